"""Static files from document_root, next to the WebSocket routes."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00"
       b"\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc"
       b"\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`"
       b"\x82")

FILES = {
    "index.html": b"<!doctype html><title>t</title><p>temp index</p>\n",
    "app.js": b"console.log('hi');\n",
    "style.css": b"body { color: red; }\n",
    "img.png": PNG,
    "pic.svg": b'<svg xmlns="http://www.w3.org/2000/svg"/>\n',
    "data.json": b'{"a": 1}\n',
    "sub/page.html": b"<p>sub page</p>\n",
}
TYPES = {
    "/app.js": "text/javascript",
    "/style.css": "text/css",
    "/img.png": "image/png",
    "/pic.svg": "image/svg+xml",
    "/data.json": "application/json",
    "/index.html": "text/html",
    "/sub/page.html": "text/html",
}


def make_root():
    """(base, root, secret): root is the docroot, base/secret is outside
    it, root/link and root/linkdir point out of it."""
    base = W.tmpdir()
    root = os.path.join(base, "root")
    os.makedirs(os.path.join(root, "sub"))
    for name, data in FILES.items():
        W.write_file(os.path.join(root, name), data)
    secret = ("TOPSECRET-" + os.urandom(8).hex()).encode()
    W.write_file(os.path.join(base, "secret"), secret + b"\n")
    os.symlink(os.path.join(base, "secret"), os.path.join(root, "link"))
    os.symlink(base, os.path.join(root, "linkdir"))
    return base, root, secret


def ctype(r):
    return (r.get("content-type") or "").split(";")[0].strip().lower()


def check_body(r, body, want):
    assert r.status == 200, r
    assert body == want, "body %r..., wanted %r..." % (body[:60], want[:60])
    cl = r.get("content-length")
    if cl is not None:
        assert int(cl) == len(want), (cl, len(want))


def test_get_index_from_www():
    index = os.path.join(W.WWW_DIR, "index.html")
    with open(index, "rb") as f:
        want = f.read()
    d = W.start(document_root=W.WWW_DIR)
    try:
        r, body = W.http_request(d.port, "GET", "/")
        check_body(r, body, want)
        assert ctype(r) == "text/html", r
        r, body = W.http_request(d.port, "GET", "/index.html")
        check_body(r, body, want)
        assert ctype(r) == "text/html", r
    finally:
        d.kill()


def test_head():
    base, root, _ = make_root()
    d = W.start(document_root=root)
    try:
        for path, name in (("/", "index.html"), ("/app.js", "app.js")):
            r, body = W.http_request(d.port, "HEAD", path)
            assert r.status == 200, r
            assert body == b"", "HEAD %s has a body: %r" % (path, body[:60])
            assert r.get("content-length") == str(len(FILES[name])), r
            assert ctype(r) == TYPES["/" + name], r
    finally:
        d.kill()


def test_content_types():
    base, root, _ = make_root()
    d = W.start(document_root=root)
    try:
        for path, t in TYPES.items():
            r, body = W.http_request(d.port, "GET", path)
            check_body(r, body, FILES[path[1:]])
            assert ctype(r) == t, "%s: Content-Type %r, wanted %s" % (
                path, r.get("content-type"), t)
        r, body = W.http_request(d.port, "GET", "/")
        check_body(r, body, FILES["index.html"])
    finally:
        d.kill()


def test_missing_404():
    base, root, _ = make_root()
    d = W.start(document_root=root)
    try:
        for path in ("/nope.html", "/sub/nope", "/nodir/x.js"):
            r, body = W.http_request(d.port, "GET", path)
            assert r.status == 404, "%s: %r" % (path, r)
    finally:
        d.kill()


def test_path_traversal_refused():
    base, root, secret = make_root()
    d = W.start(document_root=root)
    try:
        for path in ("/../secret", "/%2e%2e/secret", "/%2E%2E/secret",
                     "/..%2fsecret", "/..%2Fsecret", "/sub/../../secret",
                     "/sub/%2e%2e/%2e%2e/secret", "/link", "/linkdir/secret",
                     "/%2e%2e%2fsecret"):
            with W.RawClient(d.port) as c:
                c.send(c.request("GET", path, [
                    ("Host", "127.0.0.1:%d" % d.port),
                    ("Connection", "close")]))
                data = c.read_until_eof()
            assert secret not in data, "%s leaked the secret: %r" % (
                path, data[:300])
            status = data.split(b"\r\n", 1)[0]
            assert status[9:12] in (b"400", b"404"), \
                "%s: status line %r, wanted 400 or 404" % (path, status)
        # the server is fine afterwards
        r, body = W.http_request(d.port, "GET", "/app.js")
        check_body(r, body, FILES["app.js"])
    finally:
        d.kill()


def test_post_405():
    base, root, _ = make_root()
    d = W.start(document_root=root)
    try:
        for path in ("/index.html", "/app.js"):
            r, body = W.http_request(d.port, "POST", path, body=b"a=1")
            assert r.status == 405, "%s: %r" % (path, r)
    finally:
        d.kill()


def test_websocket_routes_still_work():
    base, root, _ = make_root()
    d = W.start(document_root=root)
    try:
        W.echo_ok(d.port, "/echo", "with a docroot")
        r, body = W.http_request(d.port, "GET", "/style.css")
        check_body(r, body, FILES["style.css"])
    finally:
        d.kill()


def test_sequential_requests_keep_serving():
    base, root, _ = make_root()
    d = W.start(document_root=root)
    try:
        for _ in range(30):
            r, body = W.http_request(d.port, "GET", "/data.json")
            check_body(r, body, FILES["data.json"])
    finally:
        d.kill()


def test_dotfiles_refused():
    """Anything under a dot segment is refused, files or directories,
    except /.well-known/ (ACME challenges live there)."""
    base, root, _ = make_root()
    secrets = {".env": b"DB_PASSWORD=hunter2\n",
               ".git/config": b"[remote \"origin\"]\n",
               "a/.hidden/x": b"hidden\n",
               "sub/.htpasswd": b"admin:x\n"}
    for name, data in secrets.items():
        os.makedirs(os.path.dirname(os.path.join(root, name)),
                    exist_ok=True)
        W.write_file(os.path.join(root, name), data)
    token = b"tok-" + os.urandom(8).hex().encode()
    os.makedirs(os.path.join(root, ".well-known", "acme-challenge"))
    W.write_file(os.path.join(root, ".well-known", "acme-challenge", "tok"),
                 token)
    d = W.start(document_root=root)
    try:
        for path in ("/.env", "/.git/config", "/.git/", "/.git",
                     "/a/.hidden/x", "/sub/.htpasswd", "/%2eenv",
                     "/%2Egit/config", "/a/%2ehidden/x",
                     "/sub/.well-known/../.htpasswd"):
            for method in ("GET", "HEAD"):
                r, body = W.http_request(d.port, method, path)
                assert r.status in (400, 404), "%s %s: %r" % (method, path, r)
                for data in secrets.values():
                    assert data not in body, "%s leaked %r" % (path, body)
        r, body = W.http_request(d.port, "GET",
                                 "/.well-known/acme-challenge/tok")
        check_body(r, body, token)
        r, body = W.http_request(d.port, "GET",
                                 "/%2ewell-known/acme-challenge/tok")
        check_body(r, body, token)
        # the exception is that one directory at the top, nothing else
        os.makedirs(os.path.join(root, "sub", ".well-known"))
        W.write_file(os.path.join(root, "sub", ".well-known", "t"), b"no")
        W.write_file(os.path.join(root, ".well-known", ".secret"), b"no")
        for path in ("/sub/.well-known/t", "/.well-known/.secret"):
            r, body = W.http_request(d.port, "GET", path)
            assert r.status == 404, "%s: %r" % (path, r)
        r, body = W.http_request(d.port, "GET", "/app.js")
        check_body(r, body, FILES["app.js"])
    finally:
        d.kill()


def test_document_root_slash():
    """document_root = "/" serves the whole tree (the operator asked)."""
    base, root, _ = make_root()
    d = W.start(document_root="/")
    try:
        for name in ("app.js", "sub/page.html"):
            r, body = W.http_request(d.port, "GET",
                                     os.path.join(root, name))
            check_body(r, body, FILES[name])
        r, body = W.http_request(d.port, "GET", root + "/")
        check_body(r, body, FILES["index.html"])
        r, body = W.http_request(d.port, "GET", root + "/nope")
        assert r.status == 404, r
    finally:
        d.kill()


TESTS = [
    test_get_index_from_www,
    test_head,
    test_content_types,
    test_missing_404,
    test_path_traversal_refused,
    test_post_405,
    test_websocket_routes_still_work,
    test_sequential_requests_keep_serving,
    test_dotfiles_refused,
    test_document_root_slash,
]

if __name__ == "__main__":
    W.run(TESTS)
