#!/usr/bin/env node
// A sluice producer in plain Node.js: the `net` module, text lines, nothing
// else. It shows what any client has to do (docs/protocol.md):
//   1. connect to the pipe (a Unix socket at $TMPDIR/CoreFxPipe_NAME on
//      Linux and macOS, \\.\pipe\NAME on Windows);
//   2. read the greeting up to its NUL byte ("SLUICE/1 max=... id=...");
//   3. write events, one line each;
//   4. end the stream; the collector records the producer as finished.
// If the collector goes away first, the next write fails with EPIPE (or
// ECONNRESET): the program says how many lines were sent and exits 1.
//
// Usage: node producer.js NAME [COUNT]
//   COUNT lines "node event I" (default 1000); 0 = until the collector
//   goes away. Prints "node: id=K lines=N" and exits 0 when all were sent.
'use strict';

const net = require('net');
const os = require('os');
const path = require('path');

function pipePath(name) {
  if (process.platform === 'win32') return '\\\\.\\pipe\\' + name;
  if (name.includes('/')) return name; // a path, used as it is
  // The path .NET uses for pipe NAME; TMPDIR defaults to /tmp.
  return path.join(process.env.TMPDIR || '/tmp', 'CoreFxPipe_' + name);
}

function main() {
  const [name, countArg = '1000'] = process.argv.slice(2);
  if (!name || !/^\d+$/.test(countArg)) {
    console.error('usage: node producer.js NAME [COUNT]');
    process.exit(2);
  }
  const count = Number(countArg);
  const endpoint = pipePath(name);
  const sock = net.createConnection(endpoint);
  let greeting = Buffer.alloc(0);
  let started = false;
  let sent = 0;
  let id = '?';
  let maxLine = 0;

  sock.on('error', (err) => {
    if (err.code === 'EPIPE' || err.code === 'ECONNRESET') {
      // Lines still in our buffer or the socket's when it closed are lost;
      // the capture holds exactly what the collector read.
      console.error(`node: the collector closed the connection (${err.code}); ${sent} lines written`);
    } else {
      console.error(`node: ${endpoint}: ${err.message}`);
    }
    process.exit(1);
  });

  // The collector closing its side first means it is gone (it never
  // closes before we do otherwise); a version 1 collector sends no data
  // after the greeting, so 'end' cannot be anything else.
  let finished = false;
  sock.on('end', () => {
    if (finished) return;
    console.error(`node: the collector closed the connection (end of stream); ${sent} lines written`);
    process.exit(1);
  });

  sock.on('data', (chunk) => {
    if (started) return; // version 1 collectors send nothing after the greeting
    greeting = Buffer.concat([greeting, chunk]);
    const nul = greeting.indexOf(0);
    if (nul < 0) {
      if (greeting.length >= 64) fail('no sluice greeting (64 bytes without NUL)');
      return;
    }
    const text = greeting.subarray(0, nul).toString('ascii');
    const fields = Object.fromEntries(
      text.split(' ').slice(1).map((f) => f.split('=')));
    if (!text.startsWith('SLUICE/1') || fields.error || !fields.max) {
      fail(`refused or not a sluice collector: "${text}"`);
    }
    id = fields.id;
    maxLine = Number(fields.max); // largest line the collector takes, '\n' included
    started = true;
    send();
  });

  function fail(msg) {
    console.error('node: ' + msg);
    process.exit(1);
  }

  // Writes in batches of lines and waits for 'drain' when the socket's
  // buffer is full: that is the collector's backpressure reaching us.
  function send() {
    while (count === 0 || sent < count) {
      const lines = [];
      const end = count === 0 ? sent + 1000 : Math.min(count, sent + 1000);
      for (let i = sent; i < end; i++) lines.push(`node event ${i}\n`);
      for (const l of lines) {
        if (Buffer.byteLength(l) > maxLine) fail(`line longer than max=${maxLine}`);
      }
      const more = sock.write(lines.join(''));
      sent = end;
      if (!more) {
        sock.once('drain', send);
        return;
      }
    }
    // end() sends what is buffered, then closes our side; 'close' follows
    // once the collector has closed its side too.
    finished = true;
    sock.end(() => console.log(`node: id=${id} lines=${sent}`));
  }
}

main();
