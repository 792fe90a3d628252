import type { CompiledEntry } from "./compile-entry.js";

/** Entry positions (ascending) split by their `name` condition. */
interface NameBuckets {
  readonly byName: Map<string, number[]>;
  /** Entries whose `name` is absent or not a literal. */
  readonly anyName: number[];
}

const NONE: readonly number[] = [];

function newBuckets(): NameBuckets {
  return { byName: new Map(), anyName: [] };
}

function add(buckets: NameBuckets, name: string | undefined, position: number): void {
  if (name === undefined) {
    buckets.anyName.push(position);
    return;
  }
  const list = buckets.byName.get(name);
  if (list) list.push(position);
  else buckets.byName.set(name, [position]);
}

/**
 * A prefilter on literal `account` and `name` values. Every entry lands in
 * exactly one bucket: (literal account, literal name), (literal account, any
 * name), (any account, literal name) or (any, any). A request can only match
 * entries in the four buckets its own account and name select, so only those
 * are tested; they are merged by position, which keeps first-match order
 * exact. With 10,000 per-user entries a request tests a handful.
 */
export class EntryIndex {
  readonly #byAccount = new Map<string, NameBuckets>();
  readonly #anyAccount = newBuckets();

  constructor(entries: readonly CompiledEntry[]) {
    entries.forEach((entry, position) => {
      let buckets = this.#anyAccount;
      if (entry.accountLiteral !== undefined) {
        const known = this.#byAccount.get(entry.accountLiteral);
        buckets = known ?? newBuckets();
        if (!known) this.#byAccount.set(entry.accountLiteral, buckets);
      }
      add(buckets, entry.nameLiteral, position);
    });
  }

  /**
   * The position of the first entry, in ACL order, among those that may
   * match `account` and `name`, for which `test` is true; -1 when none is.
   */
  first(account: string, name: string, test: (position: number) => boolean): number {
    const own = this.#byAccount.get(account);
    const a = own?.byName.get(name) ?? NONE;
    const b = own?.anyName ?? NONE;
    const c = this.#anyAccount.byName.get(name) ?? NONE;
    const d = this.#anyAccount.anyName;
    let ia = 0;
    let ib = 0;
    let ic = 0;
    let id = 0;
    for (;;) {
      const va = a[ia] ?? Number.POSITIVE_INFINITY;
      const vb = b[ib] ?? Number.POSITIVE_INFINITY;
      const vc = c[ic] ?? Number.POSITIVE_INFINITY;
      const vd = d[id] ?? Number.POSITIVE_INFINITY;
      const next = Math.min(va, vb, vc, vd);
      if (next === Number.POSITIVE_INFINITY) return -1;
      if (next === va) ia++;
      else if (next === vb) ib++;
      else if (next === vc) ic++;
      else id++;
      if (test(next)) return next;
    }
  }
}
