"""
tlstest: certificates for the wss tests, made at run time with the
openssl command line tool (nothing is committed, so nothing expires in
the tree), and the client side of TLS.

    pki = PKI()                          # a root CA and an intermediate
    srv = pki.leaf("server", dns=["localhost"], serial=0x1001)
    alice = pki.leaf("alice", client=True)
    ctx = pki.context()                  # trusts pki's root
    ctx = pki.context(cert=alice)        # ... and presents alice
    group = tls_group(srv)               # the `tls` group of a listener

A Cert has .cert (the leaf alone), .key, .fullchain (leaf, then the
intermediate: what certbot's fullchain.pem holds) and .serial.
Certificates are signed with `openssl ca`, which alone in OpenSSL 3.0
sets explicit start and end dates (for expired and expiring ones).
"""

import datetime
import os
import socket
import ssl
import subprocess

import wsdtest as W

OPENSSL = "openssl"

_CA_CNF = """\
[ ca ]
default_ca = ca_here

[ ca_here ]
dir = %(dir)s
database = $dir/index.txt
serial = $dir/serial
new_certs_dir = $dir/issued
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
copy_extensions = none

[ policy_any ]
organizationName = optional
commonName = supplied

[ req ]
distinguished_name = req_dn
prompt = no

[ req_dn ]
CN = unused
"""


def openssl(*args, cwd=None, input=None):
    """Run the openssl tool; its stdout (str).  AssertionError with what
    it said on failure."""
    r = subprocess.run([OPENSSL] + list(args), cwd=cwd, input=input,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       errors="replace", timeout=W.T(60))
    if r.returncode != 0:
        raise AssertionError("openssl %s failed (%d):\n%s%s" % (
            " ".join(args), r.returncode, r.stdout, r.stderr))
    return r.stdout


def asn1_time(t):
    """A datetime as openssl ca's -startdate/-enddate want it."""
    return t.astimezone(datetime.timezone.utc).strftime("%Y%m%d%H%M%SZ")


def new_key(path, kind="ec"):
    """A private key in PEM: "ec" (P-256) or "rsa" (2048 bits)."""
    if kind == "rsa":
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt",
                "rsa_keygen_bits:2048", "-out", path)
    else:
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-out", path)
    os.chmod(path, 0o600)
    return path


class Cert:
    def __init__(self, name, cert, key, fullchain, serial, subject):
        self.name = name
        self.cert = cert            # the leaf alone
        self.key = key
        self.fullchain = fullchain  # leaf first, then the chain
        self.serial = serial        # int
        self.subject = subject      # RFC 2253, e.g. "CN=alice,O=wsd test"

    def __repr__(self):
        return "Cert(%s, serial %#x)" % (self.name, self.serial)

    def spki_sha256_b64(self):
        """Base64 SHA-256 of the leaf's SubjectPublicKeyInfo (what
        Chromium's --ignore-certificate-errors-spki-list takes)."""
        der = subprocess.run(
            [OPENSSL, "x509", "-in", self.cert, "-pubkey", "-noout"],
            stdout=subprocess.PIPE, check=True).stdout
        der = subprocess.run([OPENSSL, "pkey", "-pubin", "-outform", "DER"],
                             input=der, stdout=subprocess.PIPE,
                             check=True).stdout
        h = subprocess.run([OPENSSL, "dgst", "-sha256", "-binary"],
                           input=der, stdout=subprocess.PIPE,
                           check=True).stdout
        import base64
        return base64.b64encode(h).decode()


class PKI:
    """A test certificate authority in a temporary directory: a
    self-signed root and (intermediate=True) an intermediate that signs
    the leaves, so that a server must send its chain."""

    _serial = 0x5000

    def __init__(self, name="wsd test", directory=None, intermediate=True,
                 key_kind="ec"):
        self.name = name
        self.dir = directory or W.tmpdir()
        self.key_kind = key_kind
        self.root_key = new_key(self._p("root.key"), key_kind)
        self.root = self._p("root.pem")
        openssl("req", "-x509", "-new", "-key", self.root_key,
                "-subj", "/O=%s/CN=%s root" % (name, name),
                "-days", "3650", "-sha256", "-set_serial", "1",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-addext", "subjectKeyIdentifier=hash",
                "-out", self.root)
        for sub in ("issued",):
            os.makedirs(self._p(sub), exist_ok=True)
        W.write_file(self._p("index.txt"), "")
        W.write_file(self._p("ca.cnf"), _CA_CNF % {"dir": self.dir})
        self.signer_cert, self.signer_key = self.root, self.root_key
        self.chain = []              # PEM files after the leaf
        if intermediate:
            ikey = new_key(self._p("inter.key"), key_kind)
            icert = self._p("inter.pem")
            self._sign(ikey, icert, "/O=%s/CN=%s intermediate" % (name, name),
                       serial=2, ext="basicConstraints=critical,CA:TRUE,"
                       "pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n"
                       "subjectKeyIdentifier=hash\n"
                       "authorityKeyIdentifier=keyid\n",
                       days=3650)
            self.signer_cert, self.signer_key = icert, ikey
            self.chain = [icert]

    def _p(self, name):
        return os.path.join(self.dir, name)

    def _sign(self, key, out, subj, serial, ext, days=30, not_before=None,
              not_after=None):
        now = datetime.datetime.now(datetime.timezone.utc)
        nb = not_before or now - datetime.timedelta(hours=1)
        na = not_after or now + datetime.timedelta(days=days)
        csr = out + ".csr"
        extfile = out + ".ext"
        W.write_file(extfile, "[ v3 ]\n" + ext)
        openssl("req", "-new", "-key", key, "-subj", subj, "-out", csr,
                "-config", self._p("ca.cnf"))
        W.write_file(self._p("serial"), "%04X\n" % serial)
        openssl("ca", "-batch", "-config", self._p("ca.cnf"),
                "-cert", self.signer_cert, "-keyfile", self.signer_key,
                "-in", csr, "-out", out, "-notext", "-preserveDN",
                "-startdate", asn1_time(nb), "-enddate", asn1_time(na),
                "-extfile", extfile, "-extensions", "v3")

    def leaf(self, name, dns=("localhost",), ips=("127.0.0.1",),
             serial=None, days=30, not_before=None, not_after=None,
             key=None, client=False, org=None, cn=None):
        """A leaf certificate signed by this CA.  dns/ips: its SAN;
        client: for TLS client authentication instead of a server;
        key: reuse this key file (a renewal that keeps the key);
        not_after in the past: an expired one."""
        PKI._serial += 1
        serial = serial if serial is not None else PKI._serial
        org = org if org is not None else self.name
        cn = cn or name
        base = self._p("%s-%x" % (name, serial))
        key = key or new_key(base + ".key", self.key_kind)
        cert = base + ".pem"
        sans = ["DNS:" + d for d in dns] + ["IP:" + i for i in ips]
        ext = "basicConstraints=critical,CA:FALSE\n" \
            "keyUsage=critical,digitalSignature%s\n" \
            "extendedKeyUsage=%s\n" \
            "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n" % (
                "" if self.key_kind == "ec" else ",keyEncipherment",
                "clientAuth" if client else "serverAuth")
        if sans:
            ext += "subjectAltName=" + ",".join(sans) + "\n"
        self._sign(key, cert, "/O=%s/CN=%s" % (org, cn), serial, ext,
                   days=days, not_before=not_before, not_after=not_after)
        fullchain = base + ".fullchain.pem"
        W.write_file(fullchain, b"".join(_read(f) for f in [cert] +
                                         self.chain))
        return Cert(name, cert, key, fullchain, serial,
                    "CN=%s,O=%s" % (cn, org))

    def context(self, cert=None, check_hostname=True, **kw):
        return client_context(self.root, cert, check_hostname, **kw)


def self_signed(directory, name="selfsigned", dns=("localhost",),
                ips=("127.0.0.1",), days=30):
    """A self-signed server certificate (openssl req -x509), no CA."""
    key = new_key(os.path.join(directory, name + ".key"))
    cert = os.path.join(directory, name + ".pem")
    sans = ",".join(["DNS:" + d for d in dns] + ["IP:" + i for i in ips])
    openssl("req", "-x509", "-new", "-key", key, "-subj", "/CN=" + name,
            "-days", str(days), "-set_serial", "77",
            "-addext", "subjectAltName=" + sans, "-out", cert)
    return Cert(name, cert, key, cert, 77, "CN=" + name)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def client_context(cafile, cert=None, check_hostname=True, min_version=None,
                   max_version=None):
    """An ssl.SSLContext that trusts cafile (and nothing else), checks
    the server's name unless told not to, and presents cert (a Cert) if
    given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    ctx.check_hostname = check_hostname
    # Python sets this by default: a TCP end without close_notify would
    # then look like one with it (RawClient.close_notify tells them
    # apart).
    ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    if min_version is not None:
        ctx.minimum_version = min_version
    if max_version is not None:
        ctx.maximum_version = max_version
    if cert is not None:
        ctx.load_cert_chain(cert.fullchain, cert.key)
    return ctx


def tls_group(cert, **extra):
    """The `tls` group of a listen entry serving cert."""
    g = {"certificate": cert.fullchain, "key": cert.key}
    g.update(extra)
    return g


def serial_of(sock):
    """The serial number (int) of the certificate the peer of an
    SSLSocket or SSLObject presented (verified or not)."""
    der = sock.getpeercert(binary_form=True)
    assert der, "no peer certificate"
    pem = ssl.DER_cert_to_PEM_cert(der)
    out = subprocess.run([OPENSSL, "x509", "-noout", "-serial"], input=pem,
                         stdout=subprocess.PIPE, errors="replace",
                         check=True).stdout
    return int(out.strip().split("=", 1)[1], 16)


def connect(port, ctx, server_hostname="127.0.0.1", timeout=10,
            session=None):
    """A TLS connection to 127.0.0.1:port after its handshake (an
    SSLSocket); ssl.SSLError or OSError if it fails."""
    raw = socket.create_connection(("127.0.0.1", port), W.T(timeout))
    try:
        s = ctx.wrap_socket(raw, server_hostname=server_hostname,
                            session=session)
    except BaseException:
        raw.close()
        raise
    s.settimeout(W.T(timeout))
    return s


# ---------------------------------------------------------------- the suites

_default = None


class Setup:
    """What the ws/wss suites need: a CA, a server certificate for
    127.0.0.1 and localhost (sent with its chain), a client context."""

    def __init__(self):
        self.pki = PKI()
        self.server = self.pki.leaf("server", dns=["localhost"],
                                    ips=["127.0.0.1"])
        self._ctx = None

    def group(self):
        return tls_group(self.server)

    def context(self):
        if self._ctx is None:
            self._ctx = self.pki.context()
        return self._ctx


def default_setup():
    """One Setup per test process: made once, on first use."""
    global _default
    if _default is None:
        _default = Setup()
    return _default
