/** The conformance suite for the SOAP row alone (both client variants), for quick runs. */
import { soap } from '../../src/protocols/soap/index.js';
import { conformanceSuite } from '../conformance/suite.js';

for (const variant of soap.variants) conformanceSuite(soap, variant);
