import { createHash } from 'node:crypto';
import { subscribe, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type { SubscribePayload } from 'graphql-ws';
import type { Principal } from '../core/request.js';
import type { Logger } from '../infra/logger.js';

/** One subscription of one socket, as a delivery group reaches it. */
export interface Receiver {
  /** The subscription id the client chose (it goes into each `next` frame). */
  readonly id: string;
  /** Sends one `next` frame to the socket (within its send-buffer cap); `bytes`: the frame's UTF-8 length. */
  send(frame: string, bytes: number): void;
}

/**
 * The group a subscription joins: the same caller (user and session) running the same operation
 * (document, operation name, variables). Everything that resolving an event may depend on is in it:
 * the principal (a subscription's scope and its per-event role check, which re-reads the session) and
 * the operation; what is left of the context (connection id, address, user agent) is for logging only.
 * Hashed, so a key costs the same whatever the size of the document.
 */
export function deliveryKey(principal: Principal, payload: SubscribePayload): string {
  return createHash('sha256')
    .update(JSON.stringify([principal.userId, principal.sessionId, payload.operationName ?? null, payload.variables ?? null, payload.query]))
    .digest('base64url');
}

/** A receiver in a group, seen by graphql-ws as the subscription's (never-yielding) result stream. */
class Member implements AsyncIterableIterator<ExecutionResult> {
  private finished: IteratorResult<ExecutionResult> | undefined;
  private failure: unknown;
  private waiting: { resolve(r: IteratorResult<ExecutionResult>): void; reject(err: unknown): void } | undefined;
  private readonly prefix: string;
  private readonly prefixBytes: number;

  constructor(
    private readonly group: Group,
    private readonly receiver: Receiver,
  ) {
    this.prefix = `{"id":${JSON.stringify(receiver.id)},"type":"next","payload":`;
    this.prefixBytes = Buffer.byteLength(this.prefix);
  }

  /** One event's serialized result, framed with this subscription's id. */
  deliver(payload: string, bytes: number): void {
    this.receiver.send(`${this.prefix}${payload}}`, this.prefixBytes + bytes + 1);
  }

  /** Resolves only when the subscription ends: every event goes out through `deliver`, not through here. */
  next(): Promise<IteratorResult<ExecutionResult>> {
    if (this.finished) return Promise.resolve(this.finished);
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  /** The client completed the subscription, or its socket closed. */
  return(): Promise<IteratorResult<ExecutionResult>> {
    this.group.remove(this);
    this.end();
    return Promise.resolve({ done: true, value: undefined });
  }

  throw(err?: unknown): Promise<IteratorResult<ExecutionResult>> {
    this.group.remove(this);
    this.end();
    return Promise.reject(err);
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  /** The group's stream ended (or failed): graphql-ws then completes (or errors) the subscription. */
  end(err?: unknown): void {
    if (this.finished || this.failure !== undefined) return;
    const waiting = this.waiting;
    this.waiting = undefined;
    if (err === undefined) {
      this.finished = { done: true, value: undefined };
      waiting?.resolve(this.finished);
    } else {
      this.failure = err;
      waiting?.reject(err);
    }
  }
}

/** One source stream and one execution per event for all of a group's receivers. */
class Group {
  readonly members = new Set<Member>();
  closed = false;
  source: AsyncGenerator<ExecutionResult> | undefined;
  /** Settles once the operation started: undefined when it streams, else its result (errors, at subscribe time). */
  started!: Promise<ExecutionResult | undefined>;

  constructor(
    readonly key: string,
    private readonly onEmpty: (group: Group) => void,
  ) {}

  add(receiver: Receiver): Member {
    const member = new Member(this, receiver);
    this.members.add(member);
    return member;
  }

  remove(member: Member): void {
    if (!this.members.delete(member) || this.members.size > 0 || this.closed) return;
    this.close();
  }

  /** No receiver left: the source stream ends (its pub/sub subscription goes with it). */
  close(): void {
    this.closed = true;
    this.onEmpty(this);
    void this.source?.return(undefined).catch(() => undefined);
  }

  /** The source ended or failed: every receiver's subscription ends with it. */
  end(err?: unknown): void {
    if (!this.closed) {
      this.closed = true;
      this.onEmpty(this);
    }
    for (const m of this.members) m.end(err);
    this.members.clear();
  }
}

/**
 * Fan-out of subscription events: each operation is executed once per event per delivery group
 * (`deliveryKey`), its result serialized once, and the same payload framed with each receiver's own
 * subscription id. A receiver's frame goes through its socket's `send`, so every per-socket bound
 * (send-buffer cap, the socket closing on session end or token expiry) still holds per socket.
 */
export function createFanout(opts: {
  log: Logger;
  /** The result as clients see it (errors formatted and masked, as on the HTTP door). */
  format(result: ExecutionResult): unknown;
}) {
  const groups = new Map<string, Group>();
  const forget = (group: Group) => {
    if (groups.get(group.key) === group) groups.delete(group.key);
  };

  const pump = async (group: Group, source: AsyncGenerator<ExecutionResult>) => {
    try {
      for await (const result of source) {
        if (group.members.size === 0) continue;
        const payload = JSON.stringify(opts.format(result));
        const bytes = Buffer.byteLength(payload);
        for (const member of group.members) {
          try {
            member.deliver(payload, bytes);
          } catch (err) {
            opts.log.warn({ err }, 'subscription delivery to one socket failed');
          }
        }
      }
      group.end();
    } catch (err) {
      group.end(err);
    }
  };

  const start = (key: string, args: ExecutionArgs): Group => {
    const group = new Group(key, forget);
    groups.set(key, group);
    group.started = (async () => {
      let result: Awaited<ReturnType<typeof subscribe>>;
      try {
        result = await subscribe(args);
      } catch (err) {
        group.end();
        throw err;
      }
      if (!(Symbol.asyncIterator in result)) {
        group.end(); // refused at subscribe time: nothing streams, nothing is shared
        return result;
      }
      group.source = result;
      if (group.closed) void result.return(undefined).catch(() => undefined);
      else void pump(group, result);
      return undefined;
    })();
    return group;
  };

  return {
    /**
     * Joins `receiver` to the group of `key`, starting the operation (`args`) when the group is new.
     * Resolves what graphql-ws iterates for this subscription, or the refusal (errors) to send instead.
     */
    async join(key: string, args: ExecutionArgs, receiver: Receiver): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
      for (;;) {
        const group = groups.get(key) ?? start(key, args);
        const refused = await group.started;
        if (refused) return refused;
        // The group emptied and closed while this one waited for it to start: start a fresh one.
        if (!group.closed) return group.add(receiver);
      }
    },
    /** Groups streaming now (one source subscription and one execution per event each). */
    get groups() {
      return groups.size;
    },
  };
}
