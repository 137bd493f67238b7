declare const open: unique symbol;

/**
 * An open database transaction, opaque outside repositories: a service can only hand it from one
 * repository call to the next, so every read and write of a table stays in that table's repository
 * while several of them still commit together. A repository's `transaction(fn)` opens one.
 */
export interface Tx {
  readonly [open]: true;
}

declare const part: unique symbol;

/**
 * One write of a statement made of several (a data-modifying CTE part), opaque outside repositories: a
 * repository builds it from values computed in Node (ids, token hashes, timestamps), a service hands it
 * on, and the repository that runs the statement composes the parts, so several features' rows commit
 * in one round trip while each table's row is still written in its own feature's repository.
 */
export interface StatementPart {
  readonly [part]: true;
}
