// A small SMTP server for the mail tests: it speaks enough of RFC 5321 for
// a client (EHLO, MAIL, RCPT, DATA, QUIT), keeps what it receives, and
// refuses recipients whose address starts with "refus".
import net from 'node:net';

export function smtpSink() {
  const messages = [];
  const server = net.createServer((sock) => {
    let buf = '';
    let inData = false;
    let mail = null;
    sock.setEncoding('utf8');
    sock.write('220 sink ESMTP\r\n');
    sock.on('data', (chunk) => {
      buf += chunk;
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          mail.data = buf.slice(0, end + 2);
          buf = buf.slice(end + 5);
          inData = false;
          messages.push(mail);
          sock.write('250 queued\r\n');
          continue;
        }
        const eol = buf.indexOf('\r\n');
        if (eol < 0) return;
        const line = buf.slice(0, eol);
        buf = buf.slice(eol + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') sock.write('250-sink\r\n250 8BITMIME\r\n');
        else if (verb === 'MAIL') { mail = { from: /<(.*)>/.exec(line)?.[1], to: [] }; sock.write('250 ok\r\n'); }
        else if (verb === 'RCPT') {
          const to = /<(.*)>/.exec(line)?.[1] ?? '';
          if (to.startsWith('refus')) sock.write('550 5.1.1 no such user\r\n');
          else { mail.to.push(to); sock.write('250 ok\r\n'); }
        } else if (verb === 'DATA') { inData = true; sock.write('354 go ahead\r\n'); }
        else if (verb === 'QUIT') { sock.end('221 bye\r\n'); return; }
        else if (verb === 'RSET' || verb === 'NOOP') sock.write('250 ok\r\n');
        else sock.write('502 not implemented\r\n');
      }
    });
    sock.on('error', () => {});
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({
      port: server.address().port,
      messages,
      close: () => new Promise((r) => server.close(r)),
    }));
  });
}
