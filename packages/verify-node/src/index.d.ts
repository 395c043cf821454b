/** The version tag, the first field of the signed message. */
export declare const VERSION: "keygate-signature-v2";
/** The signature header. */
export declare const HEADER: "Keygate-Signature";
/** Default tolerance between the signature's time and the verifier's clock, seconds. */
export declare const DEFAULT_TOLERANCE: 300;

/** The identity an origin may trust once the signature verifies. */
export interface Identity {
  readonly account: string;
  readonly keyId: string;
  readonly mode: string;
  readonly keyType: string;
  /** `charges=read,refunds=write` for restricted keys, else "". */
  readonly permissions: string;
  /** `req_…`: remember it for the tolerance window and refuse a repeat (replay). */
  readonly requestId: string;
  /** `do`, or `kv;max-staleness=<seconds>`: how stale the key's state may have been. */
  readonly verified: string;
  /** The signed time, unix seconds. */
  readonly signedAt: number;
}

export type VerifyErrorCode = "missing" | "malformed" | "stale" | "future" | "bad_signature" | "weak_secret";

export declare class KeygateVerifyError extends Error {
  readonly code: VerifyErrorCode;
}

export type Secret = string | Uint8Array;

export interface VerifyOptions {
  /** The accepted secrets: during a rotation, the current one and the previous one. */
  secrets: Secret | Secret[];
  /** Seconds, both directions (default 300). */
  tolerance?: number;
  /** The verifier's clock, unix seconds (default: now). */
  now?: number;
}

export type HeaderSource =
  | Headers
  | Map<string, string>
  | Array<[string, string]>
  | Record<string, string | string[] | undefined>;

export interface ReceivedRequest {
  headers: HeaderSource;
  method: string;
  /** The Host header as received; taken from `headers` when omitted. */
  host?: string;
  /** The path with its query, exactly as received. */
  path: string;
}

export interface SignedFields {
  method: string;
  host: string;
  path: string;
  account: string;
  keyId: string;
  mode: string;
  keyType: string;
  permissions?: string;
  requestId: string;
  verified: string;
}

export declare function verify(request: ReceivedRequest, options: VerifyOptions): Promise<Identity>;
export declare function verifyRequest(request: Request, options: VerifyOptions): Promise<Identity>;
export declare function parseHeader(value: string): { t: number; signatures: string[] };
/** keygate's webhook signature header. */
export declare const WEBHOOK_HEADER: "Keygate-Webhook-Signature";
export declare function parseWebhookHeader(value: string): { t: number; signatures: string[] };
/**
 * Verify a webhook over its raw body (before parsing it) and resolve to the parsed event.
 * Deliveries are at least once: deduplicate on the event's `id`.
 */
export declare function verifyWebhook(
  body: string | Uint8Array | ArrayBuffer,
  header: string | undefined | null,
  options: VerifyOptions,
): Promise<KeygateEvent>;
/** Check a webhook's signature over its raw body; resolves to the signature's time. */
export declare function verifyWebhookSignature(
  body: string | Uint8Array | ArrayBuffer,
  header: string | undefined | null,
  options: VerifyOptions,
): Promise<number>;
/** The shortest webhook secret accepted, bytes. */
export declare const MIN_SECRET_LEN: 32;
/** A webhook event: `data.object` is the key object as it was when the event happened. */
export interface KeygateEvent {
  id: string;
  object: "event";
  type: string;
  created: number;
  livemode: boolean;
  account: string;
  data: { object: Record<string, unknown> };
}
export declare function canonical(t: number, fields: SignedFields): Promise<Uint8Array>;
export declare function sign(secrets: Secret | Secret[], t: number, fields: SignedFields): Promise<string>;

/** Express/Connect middleware: `req.keygate` is the identity, or the request gets 401. */
export declare function express(
  options: VerifyOptions,
): (req: any, res: any, next: (err?: unknown) => void) => void;

/** Wraps a Fetch API handler so that it runs only for verified requests. */
export declare function withKeygate<Rest extends unknown[]>(
  handler: (request: Request, identity: Identity, ...rest: Rest) => Response | Promise<Response>,
  options: VerifyOptions,
): (request: Request, ...rest: Rest) => Promise<Response>;

/** Hono middleware: `c.get("keygate")` is the identity, or the request gets 401. */
export declare function hono(options: VerifyOptions): (c: any, next: () => Promise<void>) => Promise<Response | void>;
