declare const open: unique symbol;

/**
 * An open database transaction, opaque outside repositories: a service can only hand it from one
 * repository call to the next, so every read and write of a table stays in that table's repository
 * while several of them still commit together. A repository's `transaction(fn)` opens one.
 */
export interface Tx {
  readonly [open]: true;
}
