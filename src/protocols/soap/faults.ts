/**
 * Typed errors <-> SOAP Faults. Ours carry a detail element named after the error
 * (<tns:DivideByZero><tns:code>DIVIDE_BY_ZERO</tns:code>…), which our client maps back to the
 * typed error exactly; a Fault from another server (Spyne's "Client.DivideByZero",
 * "Client.ResourceNotFound", "Client.SchemaValidationError", a bare "Server") is mapped by its
 * code and subcodes.
 */
import { type ErrorCode, errorFromCode, isErrorCode, type RpcError } from '../../contract/errors.js';
import type { FaultSpec, ReceivedFault } from './envelope.js';
import { faultElementName } from './model.js';
import { firstChild } from './xml.js';

const SERVER_SIDE: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['INTERNAL', 'TIMEOUT', 'TRANSPORT']);

/** The Fault we send for a typed error: Client/Sender for the caller's mistakes, else Server/Receiver. */
export function faultFor(err: RpcError, ns: string): FaultSpec {
  return {
    side: SERVER_SIDE.has(err.code) ? 'server' : 'client',
    message: err.message,
    detail: { ns, element: faultElementName(err.code), code: err.code },
  };
}

/** Words in a foreign fault code's dotted tail (Spyne: "Client.DivideByZero") and what they mean. */
const SUBCODE_HINTS: readonly [RegExp, ErrorCode][] = [
  [/divide.?by.?zero|zero.?division/i, 'DIVIDE_BY_ZERO'],
  [/resource.?not.?found|method.?not.?found|no.?such.?method|unknown.?(operation|method)/i, 'NO_SUCH_METHOD'],
  [/validation|invalid.?arg|argument|value.?error|type.?error/i, 'INVALID_ARGUMENT'],
  [/too.?large|request.?too.?long/i, 'MESSAGE_TOO_LARGE'],
];

/** Rebuilds the typed error for a Fault received from any server. */
export function errorFromFault(fault: ReceivedFault, where: string): RpcError {
  const message = fault.message || 'SOAP Fault without a reason';
  const codeText = fault.codes.map((c) => c.local).join(' / ');
  const options = {
    remoteType: `SOAP Fault ${codeText}`,
    remoteDetail: fault.detail.length > 0 ? fault.detail.map((d) => d.local).join(', ') : undefined,
  };
  for (const d of fault.detail) {
    const code = firstChild(d, 'code')?.text.trim();
    if (isErrorCode(code) && faultElementName(code) === d.local) return errorFromCode(code, message, options);
  }
  for (const [pattern, code] of SUBCODE_HINTS) {
    if (fault.codes.some((c) => pattern.test(c.local.replace(/^(Client|Server|Sender|Receiver)\.?/, ''))))
      return errorFromCode(code, message, options);
  }
  const main = fault.codes[0]?.local.split('.')[0];
  switch (main) {
    case 'Server':
    case 'Receiver':
      return errorFromCode('INTERNAL', message, options);
    case 'VersionMismatch':
    case 'MustUnderstand':
      return errorFromCode('PROTOCOL', `${where}: ${message}`, options);
    default:
      // Client / Sender with nothing more specific: the request was refused as wrong.
      return errorFromCode('INVALID_ARGUMENT', message, options);
  }
}
