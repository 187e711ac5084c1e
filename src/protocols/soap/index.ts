/** SOAP 1.1 and 1.2 over HTTP/1.1, WSDL first: the registry entry. */
import { calculatorContract } from '../../contract/calculator.js';
import { InvalidArgumentError } from '../../contract/errors.js';
import type { Client, Contract, Implementation } from '../../contract/spec.js';
import {
  type ConnectOptions,
  DEFAULT_HOST,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_TIMEOUT_MS,
  type Protocol,
  type RunningServer,
  type SchemaDescription,
  type ServeOptions,
} from '../types.js';
import { resolveVariant } from '../variant.js';
import { connectSoap } from './client.js';
import { describeModel } from './describe.js';
import { modelFromContract, type SoapVersion } from './model.js';
import { serveSoap } from './server.js';
import { fetchWsdl, isUrl, loadWsdl, loadWsdlFile } from './wsdl-load.js';

/** The survey's port for the Spyne service. */
export const SOAP_DEFAULT_PORT = 8000;

const VERSION_OF: Readonly<Record<string, SoapVersion>> = { soap11: '1.1', soap12: '1.2' };

export const soap: Protocol = {
  name: 'soap',
  title: 'SOAP 1.1/1.2 (WSDL)',
  defaultPort: SOAP_DEFAULT_PORT,
  traits: {
    schema: 'wsdl',
    encoding: 'text',
    transport: 'HTTP/1.1',
    callbacks: false,
    // One call per HTTP exchange; concurrency comes from several keep-alive connections.
    pipelining: false,
  },
  // The server answers both on one port (chosen by Content-Type); the variant picks the client's.
  variants: ['soap11', 'soap12'],

  serve<C extends Contract>(
    contract: C,
    impl: Implementation<C>,
    options: ServeOptions = {},
  ): Promise<RunningServer> {
    resolveVariant(soap, options.variant);
    if (options.schemaPath !== undefined)
      throw new InvalidArgumentError(
        'the SOAP server writes its WSDL from the contract; schemaPath is for clients',
      );
    return serveSoap(contract, impl, {
      host: options.host ?? DEFAULT_HOST,
      port: options.port ?? SOAP_DEFAULT_PORT,
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    });
  },

  async connect<C extends Contract>(contract: C, options: ConnectOptions = {}): Promise<Client<C>> {
    const version = VERSION_OF[resolveVariant(soap, options.variant)]!;
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const host = options.host ?? DEFAULT_HOST;
    const urlHost = host.includes(':') ? `[${host}]` : host;
    let endpoint = new URL(`http://${urlHost}:${options.port ?? SOAP_DEFAULT_PORT}${options.path ?? '/'}`);
    const model =
      options.schemaPath === undefined ? undefined : await loadWsdl(options.schemaPath, timeoutMs);
    if (options.schemaPath !== undefined && isUrl(options.schemaPath)) {
      // The service is where its WSDL came from (its soap:address may name another host name).
      const from = new URL(options.schemaPath);
      endpoint = new URL(from.pathname, from);
    }
    return connectSoap(contract, {
      endpoint,
      version,
      timeoutMs,
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      model,
    });
  },

  describe(options: { readonly schemaPath?: string } = {}): SchemaDescription {
    const path = options.schemaPath;
    if (path === undefined)
      return describeModel(modelFromContract(calculatorContract), 'Calculator (built in)');
    if (isUrl(path)) throw new InvalidArgumentError(`${path} is a URL: use describeAsync() to fetch it`);
    return describeModel(loadWsdlFile(path), path);
  },

  async describeAsync(options: { readonly schemaPath?: string } = {}): Promise<SchemaDescription> {
    const path = options.schemaPath;
    if (path === undefined || !isUrl(path)) return soap.describe!(options);
    return describeModel(await fetchWsdl(path, DEFAULT_TIMEOUT_MS), path);
  },
};

export { connectSoap, type SoapConnectOptions } from './client.js';
export type { SoapOperation, SoapServiceModel, SoapVersion } from './model.js';
export { createSoapHandler, type SoapRunningServer, type SoapServeOptions, serveSoap } from './server.js';
export { fetchWsdl, loadWsdlFile } from './wsdl-load.js';
export { parseWsdl } from './wsdl-read.js';
export { writeWsdl } from './wsdl-write.js';
