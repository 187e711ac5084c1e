/**
 * The SOAP fuzz harness's third-party corpus: requests as zeep 4.3.3 and node-soap 1.13 write
 * them, Spyne 2.14's replies and Faults, and Spyne's WSDL for the Calculator (saved from its
 * ?wsdl into corpus/spyne-calculator.wsdl).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SoapVersion } from '../../src/protocols/soap/model.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SPYNE_WSDL = readFileSync(path.join(here, 'corpus', 'spyne-calculator.wsdl'), 'utf8');

const ENV11 = 'http://schemas.xmlsoap.org/soap/envelope/';
const ENV12 = 'http://www.w3.org/2003/05/soap-envelope';

export function thirdPartyRequests(): { version: SoapVersion; xml: string }[] {
  return [
    // zeep
    {
      version: '1.1',
      xml: `<soap-env:Envelope xmlns:soap-env="${ENV11}"><soap-env:Body><ns0:add xmlns:ns0="calc.soap"><ns0:a>2</ns0:a><ns0:b>5</ns0:b></ns0:add></soap-env:Body></soap-env:Envelope>`,
    },
    {
      version: '1.2',
      xml: `<soap-env:Envelope xmlns:soap-env="${ENV12}"><soap-env:Body><ns0:echo xmlns:ns0="calc.soap"><ns0:data>AAEC/w==</ns0:data></ns0:echo></soap-env:Body></soap-env:Envelope>`,
    },
    // node-soap, with a header and an XML declaration
    {
      version: '1.1',
      xml: `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="${ENV11}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:tns="calc.soap"><soap:Header></soap:Header><soap:Body><tns:divide><tns:a>1</tns:a><tns:b>4</tns:b></tns:divide></soap:Body></soap:Envelope>`,
    },
    // Unqualified children, CDATA, comments, whitespace
    {
      version: '1.1',
      xml: `<e:Envelope xmlns:e="${ENV11}"><e:Body><c:add xmlns:c="calc.soap"><!-- x --><a> 2 </a><b><![CDATA[5]]></b></c:add></e:Body></e:Envelope>`,
    },
  ];
}

export function spyneReplies(): string[] {
  return [
    `<?xml version='1.0' encoding='UTF-8'?>\n<soap11env:Envelope xmlns:soap11env="${ENV11}" xmlns:tns="calc.soap"><soap11env:Body><tns:addResponse><tns:addResult>7</tns:addResult></tns:addResponse></soap11env:Body></soap11env:Envelope>`,
    `<?xml version='1.0' encoding='UTF-8'?>\n<soap11env:Envelope xmlns:soap11env="${ENV11}"><soap11env:Body><soap11env:Fault><faultcode>soap11env:Client.DivideByZero</faultcode><faultstring>division by zero</faultstring><faultactor></faultactor></soap11env:Fault></soap11env:Body></soap11env:Envelope>`,
    `<?xml version='1.0' encoding='UTF-8'?>\n<soap12env:Envelope xmlns:soap12env="${ENV12}"><soap12env:Body><soap12env:Fault><soap12env:Code><soap12env:Value>soap12env:Sender</soap12env:Value><soap12env:Subcode><soap12env:Value>DivideByZero</soap12env:Value></soap12env:Subcode></soap12env:Code><soap12env:Reason><soap12env:Text xml:lang="en">division by zero</soap12env:Text></soap12env:Reason></soap12env:Fault></soap12env:Body></soap12env:Envelope>`,
  ];
}
