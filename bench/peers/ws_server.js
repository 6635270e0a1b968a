#!/usr/bin/env node
// ws peer for the wsd benchmark: /echo echoes every message with its
// type, /clock pushes the local time to every client every 100 ms.
// usage: node ws_server.js PORT [deflate] [CERT KEY]   (listens on 127.0.0.1)
// With CERT (PEM, leaf then chain) and KEY: TLS (wss) through an https
// server, Node's TLS defaults.
// Uses Debian's node-ws (/usr/share/nodejs/ws) or `npm install ws`.
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
let WebSocket;
try {
  WebSocket = require('ws');
} catch (e) {
  WebSocket = require('/usr/share/nodejs/ws');
}

const port = parseInt(process.argv[2], 10);
const rest = process.argv.slice(3);
// `node ws_server.js PORT deflate`: permessage-deflate on /echo and
// /clock, without context takeover either way (as wsd's default), and
// every message of 64 bytes or more compressed (wsd's min_size).
const pmd = rest[0] === 'deflate' ? {
  threshold: 64, serverNoContextTakeover: true,
  clientNoContextTakeover: true,
} : false;
if (pmd)
  rest.shift();
const tls = rest.length >= 2;
const notFound = (req, res) => {
  res.writeHead(404);
  res.end();
};
const server = tls ? https.createServer({
  cert: fs.readFileSync(rest[0]),
  key: fs.readFileSync(rest[1]),
}, notFound) : http.createServer(notFound);
const echo = new WebSocket.WebSocketServer({ noServer: true, perMessageDeflate: pmd,
  maxPayload: 16 << 20 });
const clock = new WebSocket.WebSocketServer({ noServer: true, perMessageDeflate: pmd,
  clientTracking: true });

echo.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

server.on('upgrade', (req, socket, head) => {
  const path = req.url.split('?')[0];
  const wss = path === '/echo' ? echo : path === '/clock' ? clock : null;
  if (wss === null) {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});

function stamp() {
  const d = new Date();
  const p = (n, w) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1, 2)}-${p(d.getDate(), 2)} ` +
    `${p(d.getHours(), 2)}:${p(d.getMinutes(), 2)}:${p(d.getSeconds(), 2)}.` +
    `${p(d.getMilliseconds(), 3)}`;
}

setInterval(() => {
  const s = stamp();
  for (const ws of clock.clients)
    if (ws.readyState === WebSocket.OPEN)
      ws.send(s);
}, 100);

server.listen({ port: port, host: '127.0.0.1', backlog: 4096 }, () => {
  process.stderr.write(`ws: listening on 127.0.0.1:${port}${tls ? ' (TLS)' : ''}\n`);
});
