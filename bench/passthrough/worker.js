// (a) The floor: a bare pass-through worker with no authentication at all.
export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    return fetch(new Request(new URL(url.pathname + url.search, env.ORIGIN), req));
  },
};
