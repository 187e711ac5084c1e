import { protocols } from '../../src/protocols/index.js';
import { conformanceSuite } from './suite.js';

for (const protocol of protocols) {
  for (const variant of protocol.variants) conformanceSuite(protocol, variant);
}
