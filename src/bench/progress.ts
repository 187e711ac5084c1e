/** Live progress on stderr: one rewritten status line on a terminal, plain lines otherwise. */
export interface Progress {
  /** A step of `total` finished (or started) with this label. */
  step(label: string): void;
  /** A line that stays (a failure, a phase change). */
  note(line: string): void;
  done(): void;
}

export function createProgress(
  total: number,
  stream: NodeJS.WriteStream = process.stderr,
  quiet = false,
): Progress {
  let count = 0;
  const started = Date.now();
  const tty = stream.isTTY === true;
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)}s`;
  let lineOpen = false;
  const clear = () => {
    if (tty && lineOpen) stream.write('\r\x1b[2K');
    lineOpen = false;
  };
  if (quiet) return { step: () => undefined, note: () => undefined, done: () => undefined };
  return {
    step(label) {
      count++;
      const text = `[${count}/${total} ${elapsed()}] ${label}`;
      if (tty) {
        clear();
        stream.write(text.slice(0, (stream.columns || 100) - 1));
        lineOpen = true;
      } else {
        stream.write(`${text}\n`);
      }
    },
    note(line) {
      clear();
      stream.write(`${line}\n`);
    },
    done() {
      clear();
    },
  };
}
