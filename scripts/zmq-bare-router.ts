/**
 * A bare zeromq.js ROUTER, the binding's own cost with nothing of ours on top: it answers every
 * message with the same precomputed msgpack reply ({"result": 42}) behind the sender's envelope,
 * without decoding the request. `node --import tsx scripts/zmq-bare-router.ts PORT`; prints the
 * port once bound. Used to put a floor beside the zeromq row's server CPU per add call (a REQ
 * client's add(20, 22) gets exactly this reply); it cannot answer anything else.
 */
import { Router } from 'zeromq';

const port = Number(process.argv[2] ?? 0);
const router = new Router({
  linger: 0,
  sendTimeout: 0,
  sendHighWaterMark: 10_000,
  receiveHighWaterMark: 10_000,
});
await router.bind(`tcp://127.0.0.1:${port}`);
const reply = Buffer.from([0x81, 0xa6, ...Buffer.from('result'), 42]);
process.stdout.write(
  `${JSON.stringify({ port: Number(/:(\d+)$/.exec(router.lastEndpoint ?? '')![1]), pid: process.pid })}\n`,
);
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
for (;;) {
  const frames = await router.receive();
  let at = 1;
  for (let i = 1; i < frames.length; i++) {
    if (frames[i]!.length === 0) {
      at = i + 1;
      break;
    }
  }
  frames.length = at;
  frames.push(reply);
  router.send(frames).then(undefined, () => undefined);
}
