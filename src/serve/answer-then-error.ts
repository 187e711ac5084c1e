/**
 * Malformed bytes behind whole requests on one keep-alive connection, for node:http servers.
 *
 * node:http parses pipelined bytes while earlier requests are still being answered, and reports
 * a parse error ('clientError') at once. Writing the 400 and closing then would cut the answers
 * still being made, and their callers would read the 400 as theirs. Here the whole requests
 * before the bad bytes are answered first, then the error status, then the connection closes.
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { timerDelay } from '../net/deadline.js';
import { closedForRequests } from './lingering-close.js';

export class AnswerThenError {
  /** Answers not yet finished, per connection. */
  private readonly open = new WeakMap<object, Set<http.ServerResponse>>();

  /** @param boundMs how long the answers before a parse error may take before the connection is cut. */
  constructor(private readonly boundMs: number) {}

  /** Call for every request dispatched. */
  track(res: http.ServerResponse): void {
    const socket = res.req.socket;
    let answers = this.open.get(socket);
    if (answers === undefined) {
      answers = new Set();
      this.open.set(socket, answers);
    }
    const set = answers;
    set.add(res);
    res.once('close', () => set.delete(res));
  }

  /** The 'clientError' handler: `status` is the status line's tail, e.g. "400 Bad Request". */
  clientError(socket: Duplex, status: string): void {
    // Answered with "Connection: close" and lingering (lingering-close.ts): it ends by itself.
    if (closedForRequests(socket)) return;
    const answers = [...(this.open.get(socket) ?? [])];
    // The request still arriving, if any, is the one the error is about; answered already
    // (413, 415 are sent before the body), it gets no second answer.
    const answeredEarly = answers.some((res) => !res.req.complete && res.writableEnded);
    const finish = () => {
      if (!socket.writable) socket.destroy();
      else if (answeredEarly) socket.end(() => socket.destroy());
      else
        socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () =>
          socket.destroy(),
        );
    };
    const waiting = answers.filter((res) => res.req.complete && !res.writableFinished);
    if (waiting.length === 0) {
      finish();
      return;
    }
    const delay = timerDelay(this.boundMs);
    const timer = delay === undefined ? undefined : setTimeout(() => socket.destroy(), delay);
    timer?.unref();
    let left = waiting.length;
    for (const res of waiting)
      res.once('close', () => {
        if (--left > 0) return;
        clearTimeout(timer);
        finish();
      });
  }
}

/** The status line's tail for a node:http 'clientError'. */
export function clientErrorStatus(code: string | undefined): string {
  switch (code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT': // headersTimeout or requestTimeout passed
      return '408 Request Timeout';
    case 'HPE_HEADER_OVERFLOW':
      return '431 Request Header Fields Too Large';
    default:
      return '400 Bad Request';
  }
}
