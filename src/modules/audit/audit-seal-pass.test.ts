import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyRing } from '../../infra/crypto/secrets.js';
import { createPrismaClient, type PrismaClient } from '../../infra/db/index.js';
import { createTestDatabase, type TestDatabase } from '../../test/db.js';
import { GENESIS, sealHash, type ChainEntry } from './audit-chain.js';
import { AuditSealsRepository, type NewSeal } from './audit-seals.repository.js';
import { verifyAuditChain } from './audit-verify.js';

const ring = new KeyRing([Buffer.alloc(32, 9)]);
const key = ring.current;

/** The sealer's linking step (AuditSealer.sealOnce), so the chain these tests make verifies. */
const link = (tip: { seq: bigint; hash: Buffer } | null, entries: ChainEntry[]): NewSeal[] => {
  let prev = tip ?? { seq: 0n, hash: GENESIS };
  return entries.map((entry) => {
    const seq = prev.seq + 1n;
    const hash = sealHash(key, prev.hash, entry, seq);
    const seal = { seq, entryId: entry.id, keyId: key.id, prevHash: prev.hash, hash };
    prev = { seq, hash };
    return seal;
  });
};

/**
 * The sealing and feed statements on their own (src/modules/audit/audit-seals.repository.ts): two
 * statements a sealing round besides BEGIN and COMMIT, and the feed's lease and read in one.
 */
describe('audit sealing and feed statements', () => {
  let db: TestDatabase;
  let one: PrismaClient;
  let two: PrismaClient;
  let repoOne: AuditSealsRepository;
  let repoTwo: AuditSealsRepository;

  beforeAll(async () => {
    db = await createTestDatabase();
    one = createPrismaClient(db.url, { poolMax: 4 });
    two = createPrismaClient(db.url, { poolMax: 4 });
    repoOne = new AuditSealsRepository(one);
    repoTwo = new AuditSealsRepository(two);
  });
  afterAll(async () => {
    await one?.$disconnect();
    await two?.$disconnect();
    await db?.drop();
  });

  /** `n` entries, each in its own statement (and commit), with details that tell them apart. */
  const write = async (n: number, tag: string) => {
    for (let i = 0; i < n; i++) {
      await one.$executeRaw`INSERT INTO audit_log (action, outcome, details, ip) VALUES ('security.alert', 'SUCCESS', jsonb_build_object('tag', ${tag}::text, 'i', ${i}::int), '192.0.2.1')`;
    }
  };
  const sealAll = async (repo: AuditSealsRepository) => {
    for (;;) {
      const sealed = await repo.sealBatch(50, link);
      if (sealed !== null && sealed.length === 0) return;
    }
  };
  const chainState = async () => {
    const [row] = await one.$queryRaw<{ entries: bigint; seals: bigint; pending: bigint; max_seq: bigint | null; distinct_entries: bigint }[]>`
      SELECT (SELECT count(*) FROM audit_log) AS entries, (SELECT count(*) FROM audit_seals) AS seals,
             (SELECT count(*) FROM audit_pending) AS pending, (SELECT max(seq) FROM audit_seals) AS max_seq,
             (SELECT count(DISTINCT entry_id) FROM audit_seals) AS distinct_entries`;
    return { entries: Number(row!.entries), seals: Number(row!.seals), pending: Number(row!.pending), maxSeq: Number(row!.max_seq ?? 0), distinctEntries: Number(row!.distinct_entries) };
  };

  it('seals pending entries oldest first into one chain that verifies, each entry once, with two sealers racing', async () => {
    await write(5, 'first');
    const first = await repoOne.sealBatch(50, link);
    expect(first!.map((s) => s.seal.seq)).toEqual([1n, 2n, 3n, 4n, 5n]);
    expect(first!.map((s) => (JSON.parse(s.entry.detailsText!) as { i: number }).i)).toEqual([0, 1, 2, 3, 4]);
    expect(await repoOne.sealBatch(50, link)).toEqual([]); // nothing pending

    // Writers and two sealers at once, over two connection pools: the lock and the tip check keep one chain.
    const writing = Promise.all([write(40, 'race-a'), write(40, 'race-b')]);
    let done = false;
    const racer = async (repo: AuditSealsRepository) => {
      while (!done) await repo.sealBatch(7, link);
    };
    const racing = Promise.all([racer(repoOne), racer(repoTwo), racer(repoOne), racer(repoTwo)]);
    await writing;
    done = true;
    await racing;
    await sealAll(repoTwo);
    const state = await chainState();
    expect(state).toEqual({ entries: 85, seals: 85, pending: 0, maxSeq: 85, distinctEntries: 85 });
    const report = await verifyAuditChain(repoOne, ring, { batch: 10 });
    expect(report).toMatchObject({ ok: true, broken: null, checked: 85, unsealed: 0 });
  });

  it('writes nothing when another sealer committed after its snapshot was taken (the tip it read moved)', async () => {
    await sealAll(repoOne);
    await write(3, 'stale');
    // The race: the round's first statement takes its snapshot, then the lock; a sealer that committed in
    // between is not in what it read. Here "another sealer" commits right after that statement returns.
    let reads = 0;
    const injected = async () => {
      await one.$transaction(async (tx) => {
        const [tip] = await tx.$queryRaw<{ seq: bigint; hash: Uint8Array }[]>`SELECT seq, hash FROM audit_seals ORDER BY seq DESC LIMIT 1`;
        const pending = await tx.$queryRaw<{ id: string }[]>`
          SELECT a.id::text AS id FROM audit_pending p JOIN audit_log a ON a.id = p.entry_id ORDER BY a.occurred_at, a.id LIMIT 1`;
        const rows = await tx.$queryRaw<{ id: string; occurred_at: Date; action: string; outcome: string; ip: string | null; request_id: string | null; details_text: string | null }[]>`
          SELECT id::text AS id, occurred_at, action, outcome::text AS outcome, ip, request_id, details::text AS details_text FROM audit_log WHERE id = ${pending[0]!.id}::uuid`;
        const r = rows[0]!;
        const e: ChainEntry = { id: r.id, occurredAt: r.occurred_at, action: r.action, outcome: r.outcome as ChainEntry['outcome'], actorId: null, targetUserId: null, sessionId: null, ip: r.ip, userAgent: null, requestId: r.request_id, detailsText: r.details_text };
        const [seal] = link({ seq: BigInt(tip!.seq), hash: Buffer.from(tip!.hash) }, [e]);
        await tx.auditSeal.create({ data: { seq: seal!.seq, entryId: seal!.entryId, keyId: seal!.keyId, prevHash: new Uint8Array(seal!.prevHash), hash: new Uint8Array(seal!.hash), sealedAt: new Date() } });
        await tx.auditPending.delete({ where: { entryId: e.id } });
      });
    };
    // `one`, but the first statement of each transaction is followed by the injected commit.
    const racing = new Proxy(one, {
      get(target, prop, receiver) {
        if (prop !== '$transaction') return Reflect.get(target, prop, receiver) as unknown;
        return (fn: (tx: PrismaClient) => Promise<unknown>) =>
          target.$transaction((tx) =>
            fn(new Proxy(tx, {
              get(t, p, r) {
                if (p !== '$queryRaw') return Reflect.get(t, p, r) as unknown;
                return async (...args: Parameters<PrismaClient['$queryRaw']>) => {
                  const out = await t.$queryRaw(...args);
                  if (reads++ === 0) await injected();
                  return out;
                };
              },
            }) as unknown as PrismaClient),
          );
      },
    });
    let fannedOut = false;
    const raced = await new AuditSealsRepository(racing).sealBatch(50, link, async () => {
      fannedOut = true;
    });
    expect(reads).toBe(2); // the read, then the guarded write
    expect(raced).toBeNull();
    expect(fannedOut).toBe(false);
    // The other sealer's seal stands, the two entries it left are still pending, and the next round takes them.
    expect(await chainState()).toMatchObject({ pending: 2 });
    const next = await repoOne.sealBatch(50, link);
    expect(next).toHaveLength(2);
    const state = await chainState();
    expect(state).toMatchObject({ pending: 0, seals: state.entries, maxSeq: state.entries });
    expect(await verifyAuditChain(repoOne, ring, { batch: 10 })).toMatchObject({ ok: true, broken: null });
  });

  it('the feed leases and reads in one statement, takes no lease when nothing is new, and moves its cursor only after a publish', async () => {
    await sealAll(repoOne);
    const cursor = async () => {
      const [c] = await one.$queryRaw<{ seq: bigint; leased_until: Date | null; xmin: string }[]>`SELECT seq, leased_until, xmin::text AS xmin FROM audit_cursors WHERE name = 'publisher'`;
      return { seq: BigInt(c!.seq), leasedUntil: c!.leased_until, xmin: c!.xmin };
    };
    const published: bigint[][] = [];
    const publish = async (rows: { seq: bigint; entry: ChainEntry }[]) => {
      published.push(rows.map((r) => r.seq));
    };
    while ((await repoOne.publishBatch(30, publish)) > 0) {
      // the earlier tests' seals
    }
    const caughtUp = await cursor();
    expect(caughtUp.seq).toBe(BigInt((await chainState()).maxSeq));
    expect(caughtUp.leasedUntil).toBeNull();
    expect(published.flat()).toEqual(Array.from({ length: Number(caughtUp.seq) }, (_, i) => BigInt(i + 1)));

    // Nothing new: no lease is taken (the cursor row is not even updated), nothing to give back.
    published.length = 0;
    expect(await repoOne.publishBatch(30, publish)).toBe(0);
    expect(await cursor()).toEqual(caughtUp);
    expect(published).toEqual([]);

    // New seals: a failed publish leaves the cursor where it was, its lease given back.
    await write(4, 'feed');
    await sealAll(repoOne);
    await expect(repoOne.publishBatch(30, async () => {
      throw new Error('redis is down');
    })).rejects.toThrow('redis is down');
    expect(await cursor()).toMatchObject({ seq: caughtUp.seq, leasedUntil: null });
    // Another process holds the lease: this one leaves the feed alone.
    await one.$executeRaw`UPDATE audit_cursors SET leased_until = now() + interval '1 minute' WHERE name = 'publisher'`;
    expect(await repoTwo.publishBatch(30, publish)).toBe(0);
    await one.$executeRaw`UPDATE audit_cursors SET leased_until = NULL WHERE name = 'publisher'`;
    // Then the entries go out once, in chain order, and the cursor moves past them.
    expect(await repoTwo.publishBatch(30, publish)).toBe(4);
    expect(published).toEqual([[caughtUp.seq + 1n, caughtUp.seq + 2n, caughtUp.seq + 3n, caughtUp.seq + 4n]]);
    expect(await cursor()).toMatchObject({ seq: caughtUp.seq + 4n, leasedUntil: null });
  });
});
