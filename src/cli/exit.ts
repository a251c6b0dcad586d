/**
 * Exit codes are part of the CLI's interface: shell scripts branch on them, so they never change
 * meaning. Documented in `crisscross --help` and the README.
 */
export const EXIT = {
  ok: 0,
  /** The answer is "no": a missing key or variable, `has_key` false, a failed `var_set --if`/`--nx`. */
  no: 1,
  /** The command line was wrong: unknown option, missing argument, bad substitution file, a local path unusable. */
  usage: 2,
  /** The daemon answered with an error (malformed id, unknown root, …) or could not start. */
  server: 3,
  /** The daemon could not be reached: not running, wrong port, refused password. */
  unreachable: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_HELP = `Exit codes:
  0  success
  1  no: key or variable not found, has_key false, var_set --if/--nx did not hold, no peer accepted a push
  2  usage error (bad arguments or options, unreadable *file.yaml#Field or local path)
  3  the daemon replied with an error, or serve could not start
  4  the daemon could not be reached (not running, wrong port, wrong password)`;

/** Thrown by a command to end the CLI with a specific exit code; an empty message prints nothing. */
export class CliFailure extends Error {
  readonly exitCode: ExitCode;

  constructor(exitCode: ExitCode, message: string) {
    super(message);
    this.exitCode = exitCode;
    this.name = 'CliFailure';
  }
}
