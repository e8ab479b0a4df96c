// The relay subclasses smtp-server's connection and server and nodemailer's client connection, and reaches
// into their internals (listed in relay/smtp/connection.ts, deadline.ts, server.ts and
// relay/deliver/smtp/client.ts). Both packages are pinned to exact versions; this test fails loudly, naming
// what moved, when an upgrade changes a version or removes a member the relay relies on. The behaviour
// built on each member is covered by the relay's own tests through real clients.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SMTPServer } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import NodemailerConnection from 'nodemailer/lib/smtp-connection';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
const installed = (name: string) => (JSON.parse(readFileSync(new URL(`../../node_modules/${name}/package.json`, import.meta.url), 'utf8')) as { version: string }).version;
const source = (specifier: string) => readFileSync(fileURLToPath(import.meta.resolve(specifier)), 'utf8');

describe('relay/smtp: the library internals the relay relies on', () => {
  it('pins smtp-server and nodemailer to exact versions, and those are installed', () => {
    for (const name of ['smtp-server', 'nodemailer']) {
      assert.match(pkg.dependencies[name], /^\d+\.\d+\.\d+$/, `${name} must be pinned exactly (the relay subclasses its internals)`);
      assert.equal(installed(name), pkg.dependencies[name], `${name}: installed ${installed(name)}, pinned ${pkg.dependencies[name]}`);
    }
  });

  it("smtp-server's connection still has the methods and fields the subclass overrides or reads", () => {
    const proto = SMTPConnection.prototype as unknown as Record<string, unknown>;
    for (const m of ['_createParser', '_onCommand', '_isSupported', '_parseAddressCommand', '_onClose', 'send']) {
      assert.equal(typeof proto[m], 'function', `SMTPConnection.prototype.${m}`);
    }
    const text = source('smtp-server/lib/smtp-connection.js');
    for (const field of ['_server', '_upgrading', '_nextHandler', '_dataStream', '_parser']) {
      assert.match(text, new RegExp(`this\\.${field}\\s*=`), `SMTPConnection field ${field}`);
    }
  });

  it("smtp-server's stream parser and server still have what the relay hooks into", () => {
    const stream = source('smtp-server/lib/smtp-stream.js');
    assert.match(stream, /_dataMode/, 'SMTPStream._dataMode');
    assert.match(stream, /_write\s*\(/, 'SMTPStream._write');
    const server = SMTPServer.prototype as unknown as Record<string, unknown>;
    assert.equal(typeof server._handleProxy, 'function', 'SMTPServer.prototype._handleProxy');
    assert.match(source('smtp-server'), /this\.connections\s*=/, 'SMTPServer.connections');
  });

  it("nodemailer's client connection still has _createSendStream", () => {
    const proto = NodemailerConnection.prototype as unknown as Record<string, unknown>;
    assert.equal(typeof proto._createSendStream, 'function', 'nodemailer SMTPConnection.prototype._createSendStream');
    // relay/deliver/smtp/client.ts: SMTPUTF8 for headers (_sendCommand) and the EHLO keywords (_supportedExtensions)
    assert.equal(typeof proto._sendCommand, 'function', 'nodemailer SMTPConnection.prototype._sendCommand');
    assert.match(source('nodemailer/lib/smtp-connection'), /this\._supportedExtensions\.push\('SMTPUTF8'\)/, 'SMTPConnection._supportedExtensions');
  });
});
