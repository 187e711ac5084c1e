/** A CLI sub-command: `rpclab <name> ...argv`. run() returns the process exit code. */
export interface Command {
  readonly name: string;
  /** One line for `rpclab --help`. */
  readonly summary: string;
  /** Full help text for `rpclab <name> --help`. */
  readonly usage: string;
  run(argv: readonly string[]): Promise<number>;
}
