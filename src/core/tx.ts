declare const open: unique symbol;

/**
 * An open database transaction, opaque outside repositories: a service can only hand it from one
 * repository call to the next, so every read and write of a table stays in that table's repository
 * while several of them still commit together.
 */
export interface Tx {
  readonly [open]: true;
}

/** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
export interface UnitOfWork {
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
}
