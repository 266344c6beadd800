#!/usr/bin/env python3
"""The web config (--web.config.file) and the HTTP server's limits on the real
daemons, with a test CA made here with openssl:

 1. TLS with a server certificate only: HTTPS answers, plain HTTP does not.
 2. Mutual TLS (RequireAndVerifyClientCert, client_allowed_sans) on the
    bridge: no client certificate, one from another CA and one without an
    allowed SAN are refused; the right one gets 200; refusals are counted.
 3. Basic auth: 401 with WWW-Authenticate: Basic without or with wrong
    credentials, 200 with the right ones, excluded paths open; bcrypt runs
    once for repeated scrapes (the cache).
 4. The exporter-toolkit's documented example web-config.yml, unchanged.
 5. http_server_config.headers on every answer; rate_limit gives 429.
 6. Reload: a new certificate is served after the files change (no signal)
    and a new user after SIGHUP; a broken file keeps the old settings and
    sets *_web_config_last_reload_successful to 0.
 7. A broken file is refused at start with FILE:LINE: key: message.
 8. Long runs of slashes (CVE-2025-55763) get 400 and the server lives.
 9. A ninth SSE client gets 503; /metrics still answers while 16 clients
    send their headers one byte a second (request header timeout).
10. The write API: 415 for text/plain; 403 from a non-loopback address (a
    network namespace made here, when the test runs as root), 201 there with
    basic auth.
Usage: web_security_test.py BUILD_DIR SOURCE_DIR"""
import base64
import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # libxcrypt's bcrypt, to make the test's hashes

build, src = sys.argv[1], sys.argv[2]
EXPORTER = os.path.join(build, "exporter", "propmon-exporter")
BRIDGE = os.path.join(build, "bridge", "propmon-bridge")
tmp = tempfile.mkdtemp(prefix="propmon-websec-")
procs = []
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, cwd=tmp,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_ca(name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key",
            "-out", name + ".crt", "-days", "2", "-subj", "/CN=" + name)


def make_cert(name, ca, san):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
            "-subj", "/CN=" + name)
    ext = os.path.join(tmp, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=" + san + "\n")
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt",
            "-CAkey", ca + ".key", "-CAcreateserial", "-out", name + ".crt",
            "-days", "2", "-extfile", ext)
    return os.path.join(tmp, name + ".crt"), os.path.join(tmp, name + ".key")


def write(name, text):
    path = os.path.join(tmp, name)
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)  # atomically, as an operator should
    return path


def start(name, argv):
    log = open(os.path.join(tmp, name + ".log"), "w")
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    procs.append(p)
    return p


def log_of(name):
    with open(os.path.join(tmp, name + ".log")) as f:
        return f.read()


def request(port, path="/metrics", tls=None, method="GET", body=None,
            headers=None, host="127.0.0.1", timeout=10):
    """Returns (status, headers dict, body) or raises."""
    if tls is None:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    else:
        conn = http.client.HTTPSConnection(host, port, timeout=timeout,
                                           context=tls)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def tls_context(cert=None, key=None):
    ctx = ssl.create_default_context(cafile=os.path.join(tmp, "ca.crt"))
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def wait_up(port, tls=None, headers=None, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            request(port, "/-/healthy", tls=tls, headers=headers, timeout=2)
            return True
        except Exception:
            time.sleep(0.1)
    return False


def basic(user, password):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": "Basic " + token}


def metric(port, name, tls=None, headers=None):
    _, _, body = request(port, tls=tls, headers=headers)
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", body.decode(), re.M)
    return float(m.group(1)) if m else None


def exporter(name, web_config, port, extra=()):
    return start(name, [EXPORTER, f"--web.listen-address=127.0.0.1:{port}",
                        f"--web.config.file={web_config}", *extra])


def bridge(name, web_config, port):
    # No broker: the HTTP side is what is tested here.
    return start(name, [BRIDGE, f"--web.listen-address=127.0.0.1:{port}",
                        f"--mqtt.url=tcp://127.0.0.1:{free_port()}",
                        f"--web.config.file={web_config}"])


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def bcrypt(password):
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH,
                                              rounds=1 << 10))


def test_tls_server_only():
    server_crt, server_key = make_cert("server", "ca",
                                       "DNS:localhost,IP:127.0.0.1")
    cfg = write("tls.yml", f"tls_server_config:\n  cert_file: server.crt\n"
                           f"  key_file: server.key\n")
    port = free_port()
    p = exporter("tls", cfg, port)
    check(wait_up(port, tls=tls_context()), "exporter serves HTTPS")
    status, _, body = request(port, tls=tls_context())
    check(status == 200 and b"propmon_exporter_build_info" in body,
          "HTTPS /metrics is 200")
    try:
        status, _, _ = request(port, timeout=3)
        check(False, f"plain HTTP on the TLS port answered {status}")
    except Exception:
        check(True, "plain HTTP is not served on the TLS port")
    # A client that does not trust our CA refuses the server.
    try:
        request(port, tls=ssl.create_default_context(), timeout=3)
        check(False, "a client without the test CA accepted the server")
    except ssl.SSLError:
        check(True, "the server certificate is what the client verifies")
    return p, port, cfg


def peer_pem(port):
    s = tls_context().wrap_socket(
        socket.create_connection(("127.0.0.1", port), timeout=5),
        server_hostname="localhost")
    try:
        return ssl.DER_cert_to_PEM_cert(s.getpeercert(binary_form=True))
    finally:
        s.close()


def test_reload_certificate(p, port):
    first = peer_pem(port)
    # New key and certificate written over the old files (atomic renames).
    make_cert("server2", "ca", "DNS:localhost,IP:127.0.0.1")
    for ext in ("crt", "key"):
        os.replace(os.path.join(tmp, "server2." + ext),
                   os.path.join(tmp, "server." + ext))
    time.sleep(1.2)  # the files are checked at most once a second
    got = None
    end = time.time() + 10
    while time.time() < end:
        got = peer_pem(port)
        if got != first:
            break
        time.sleep(0.3)
    check(got != first, "a replaced certificate is served without a restart")
    with open(os.path.join(tmp, "server.crt")) as f:
        new_pem = f.read()
    check(got.strip() == new_pem.strip(), "the new certificate is the file's")
    # And at once on SIGHUP (no wait for the once-a-second check).
    make_cert("server3", "ca", "DNS:localhost,IP:127.0.0.1")
    for ext in ("crt", "key"):
        os.replace(os.path.join(tmp, "server3." + ext),
                   os.path.join(tmp, "server." + ext))
    p.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    with open(os.path.join(tmp, "server.crt")) as f:
        newest = f.read()
    check(peer_pem(port).strip() == newest.strip(),
          "SIGHUP: the next handshake uses the new certificate")


def test_mtls():
    make_ca("other-ca")
    good = make_cert("client", "ca", "DNS:scraper.example")
    wrong_san = make_cert("client-wrong-san", "ca", "DNS:intruder.example")
    foreign = make_cert("client-foreign", "other-ca", "DNS:scraper.example")
    cfg = write("mtls.yml", "\n".join([
        "tls_server_config:",
        "  cert_file: server.crt",
        "  key_file: server.key",
        "  client_auth_type: RequireAndVerifyClientCert",
        "  client_ca_file: ca.crt",
        "  client_allowed_sans: [scraper.example]",
        "  min_version: TLS12",
        "  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,"
        " TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]",
        "  curve_preferences: [CurveP256, X25519]",
        ""]))
    port = free_port()
    p = bridge("mtls", cfg, port)
    check(wait_up(port, tls=tls_context(*good)), "bridge serves mutual TLS")
    status, _, _ = request(port, tls=tls_context(*good))
    check(status == 200, "the right client certificate gets 200")
    for what, ctx in [("no client certificate", tls_context()),
                      ("a certificate from another CA", tls_context(*foreign)),
                      ("a certificate without an allowed SAN",
                       tls_context(*wrong_san))]:
        try:
            status, _, _ = request(port, tls=ctx, timeout=3)
            check(False, f"{what} was served ({status})")
        except (ssl.SSLError, ConnectionError, http.client.HTTPException,
                OSError):
            check(True, f"{what} is refused")
    n = metric(port, "propmon_bridge_tls_client_cert_failures_total",
               tls=tls_context(*good))
    check(n is not None and n >= 2,
          f"refused client certificates are counted ({n})")
    # TLS 1.2 with a listed cipher works; a client limited to TLS 1.3 works
    # too (TLS 1.3 suites are not configurable, as in Go).
    ctx = tls_context(*good)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                        server_hostname="localhost")
    check(s.cipher()[0] in ("ECDHE-ECDSA-AES128-GCM-SHA256",
                            "ECDHE-ECDSA-AES256-GCM-SHA384"),
          f"TLS 1.2 uses a configured cipher ({s.cipher()[0]})")
    s.close()
    stop(p)


def test_basic_auth_headers_rate_limit():
    cfg = write("auth.yml", "\n".join([
        "basic_auth_users:",
        f"  prometheus: {bcrypt('s3cret')}",
        "basic_auth_excluded_paths: [/-/healthy]",
        "http_server_config:",
        "  headers:",
        "    X-Frame-Options: deny",
        "    Content-Security-Policy: default-src 'none'",
        "    Strict-Transport-Security: max-age=31536000",
        ""]))
    port = free_port()
    p = exporter("auth", cfg, port)
    check(wait_up(port), "exporter with basic auth is up (excluded path)")
    status, hdrs, _ = request(port)
    check(status == 401 and hdrs.get("www-authenticate") == "Basic",
          f"no credentials: 401 with WWW-Authenticate: Basic ({status})")
    status, _, _ = request(port, headers=basic("prometheus", "wrong"))
    check(status == 401, f"wrong password: 401 ({status})")
    status, _, _ = request(port, headers=basic("nobody", "s3cret"))
    check(status == 401, f"unknown user: 401 ({status})")
    status, hdrs, _ = request(port, headers=basic("prometheus", "s3cret"))
    check(status == 200, f"right credentials: 200 ({status})")
    check(hdrs.get("x-frame-options") == "deny" and
          hdrs.get("content-security-policy") == "default-src 'none'" and
          hdrs.get("strict-transport-security") == "max-age=31536000",
          "the web config's headers are on the answer")
    status, hdrs, _ = request(port)
    check(hdrs.get("x-frame-options") == "deny", "and on a 401 too")
    for _ in range(10):
        request(port, headers=basic("prometheus", "s3cret"))
    runs = metric(port, "propmon_exporter_http_basic_auth_bcrypt_total",
                  headers=basic("prometheus", "s3cret"))
    # wrong password, unknown user, right password: three computations; the
    # eleven scrapes with the right password after the first are cached.
    check(runs == 3, f"bcrypt runs once per distinct credential ({runs})")
    rejected = re.search(
        r'propmon_exporter_http_requests_rejected_total\{reason="unauthorized"\} (\S+)',
        request(port, headers=basic("prometheus", "s3cret"))[2].decode())
    check(rejected and float(rejected.group(1)) >= 4, "401s are counted")

    # SIGHUP picks up a new user at once.
    text = open(cfg).read().replace(
        "basic_auth_users:\n",
        f"basic_auth_users:\n  grafana: {bcrypt('other')}\n")
    write("auth.yml", text)
    p.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    status, _, _ = request(port, headers=basic("grafana", "other"))
    check(status == 200, f"a user added to the file is accepted ({status})")

    # A broken change keeps the old settings.
    write("auth.yml", text + "rate_limit: {interval: forever}\n")
    p.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    status, _, body = request(port, headers=basic("grafana", "other"))
    check(status == 200, "a broken file keeps the previous settings")
    status, _, _ = request(port)
    check(status == 401, "auth still required after a broken reload")
    ok = metric(port, "propmon_exporter_web_config_last_reload_successful",
                headers=basic("grafana", "other"))
    check(ok == 0, f"last_reload_successful is 0 after a broken reload ({ok})")
    check("keeping the previous settings" in log_of("auth"),
          "the failed reload is logged")

    # rate_limit: three requests, then 429.
    write("auth.yml", text + "rate_limit:\n  interval: 1m\n  burst: 3\n")
    p.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    codes = [request(port, "/-/healthy")[0] for _ in range(5)]
    check(codes[:3] == [200, 200, 200] and codes[3:] == [429, 429],
          f"rate_limit: burst 3 then 429 ({codes})")
    stop(p)


def test_toolkit_example():
    d = os.path.join(tmp, "toolkit")
    os.makedirs(d)
    shutil.copy(os.path.join(src, "tests", "fixtures", "web",
                             "toolkit-web-config.yml"),
                os.path.join(d, "web-config.yml"))
    # The example names server.crt and server.key next to it.
    shutil.copy(os.path.join(tmp, "server.crt"), d)
    shutil.copy(os.path.join(tmp, "server.key"), d)
    port = free_port()
    p = exporter("toolkit", os.path.join(d, "web-config.yml"), port)
    ctx = tls_context()
    up = False
    end = time.time() + 20
    status = None
    while time.time() < end and not up:
        try:
            status, hdrs, _ = request(port, tls=ctx, timeout=2)
            up = True
        except Exception:
            time.sleep(0.1)
    check(up and status == 401,
          f"the toolkit's example loads unchanged: TLS and basic auth ({status})")
    stop(p)


def test_bad_file_at_start():
    cfg = write("bad.yml", "tls_server_config:\n  cert_file: server.crt\n"
                           "  key_file: server.key\n  min_version: TLS14\n")
    r = subprocess.run([EXPORTER, "--web.listen-address=127.0.0.1:0",
                        f"--web.config.file={cfg}"], capture_output=True,
                       text=True, timeout=20)
    msg = r.stdout + r.stderr
    check(r.returncode != 0 and
          f"{cfg}:4: tls_server_config.min_version: unknown TLS version: TLS14"
          in msg, f"a bad file is refused at start naming FILE:LINE: key ({msg.strip()})")
    cfg = write("bad2.yml", "basic_auth_users:\n  alice: plaintext\n")
    r = subprocess.run([BRIDGE, "--web.listen-address=127.0.0.1:0",
                        f"--web.config.file={cfg}"], capture_output=True,
                       text=True, timeout=20)
    msg = r.stdout + r.stderr
    check(r.returncode != 0 and f"{cfg}:2: basic_auth_users.alice: not a bcrypt hash"
          in msg, f"the bridge refuses a plaintext password ({msg.strip()})")


def raw(port, data, timeout=5):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except socket.timeout:
            pass
        return out


def test_limits():
    cfg = write("plain.yml", "http_server_config:\n  http2: false\n")
    port = free_port()
    p = bridge("limits", cfg, port)
    check(wait_up(port), "bridge up for the limit tests")
    # CVE-2025-55763: long runs of slashes.
    for uri in ["/" * 5000, "/metrics" + "/" * 4000, "///" + "a/" * 1000]:
        out = raw(port, f"GET {uri} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        check(out.startswith(b"HTTP/1.1 400"),
              f"a URI with a slash run of {uri.count('/')} slashes gets 400")
    check(request(port)[0] == 200, "and the server still answers")

    # SSE: eight clients stream, the ninth gets 503.
    streams = []
    for _ in range(8):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /api/v1/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        check(s.recv(12).startswith(b"HTTP/1.1 200"), "an SSE client streams")
        streams.append(s)
    status, _, _ = request(port, "/api/v1/stream")
    check(status == 503, f"the ninth SSE client gets 503 ({status})")
    for s in streams:
        s.close()

    # The web config covers the stream and the REST API too: with users set
    # (SIGHUP), both want credentials.
    write("plain.yml", f"basic_auth_users:\n  ops: {bcrypt('pw')}\n")
    p.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    for path in ["/api/v1/stream", "/api/v1/proplets", "/tasks/x/metrics"]:
        status, _, _ = request(port, path)
        check(status == 401, f"{path} without credentials: 401 ({status})")
    status, _, _ = request(port, "/api/v1/proplets", headers=basic("ops", "pw"))
    check(status == 200, f"/api/v1/proplets with credentials: 200 ({status})")
    write("plain.yml", "http_server_config:\n  http2: false\n")
    p.send_signal(signal.SIGHUP)
    time.sleep(0.5)

    # Slow clients: 16 send a header byte a second; /metrics still answers.
    stop_slow = threading.Event()

    def slow_client():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            for b in b"GET /metrics HTTP/1.1\r\nHost: slow\r\nX-Slow: yes\r\n":
                if stop_slow.is_set():
                    break
                s.send(bytes([b]))
                time.sleep(1)
            s.close()
        except OSError:
            pass

    threads = [threading.Thread(target=slow_client, daemon=True)
               for _ in range(16)]
    for t in threads:
        t.start()
    time.sleep(2)
    t0 = time.time()
    try:
        status, _, _ = request(port, timeout=30)
    except Exception as e:
        status = str(e)
    waited = time.time() - t0
    check(status == 200,
          f"/metrics answers while 16 clients send headers slowly "
          f"({status} after {waited:.1f} s)")
    stop_slow.set()
    stop(p)


def test_write_api():
    cfg = write("write.yml", f"basic_auth_users:\n  admin: {bcrypt('adm')}\n"
                             "basic_auth_excluded_paths: [/api/v1/tasks]\n")
    port = free_port()
    p = exporter("write", cfg, port)
    check(wait_up(port), "exporter up for the write API tests")
    body = '{"id":"w1","name":"w","pid":%d}' % os.getpid()
    status, _, _ = request(port, "/api/v1/tasks", method="POST", body=body,
                           headers={"Content-Type": "text/plain"})
    check(status == 415, f"a text/plain POST gets 415 ({status})")
    status, _, _ = request(port, "/api/v1/tasks", method="POST", body=body,
                           headers={"Content-Type": "application/json"})
    check(status == 201, f"a JSON POST from loopback is accepted ({status})")
    stop(p)
    if os.geteuid() != 0 or not shutil.which("ip"):
        print("skip non-loopback write API test (needs root and ip netns)")
        return
    # A network namespace of this test's own, joined to this one by a veth
    # pair on RFC 5737 TEST-NET-2 addresses (never routed anywhere): the
    # exporter listens on the host side only; the client in the namespace
    # is not on loopback.
    ns = f"pmtest{os.getpid()}"
    veth = f"pmv{os.getpid() % 100000}"
    host_ip, ns_ip = "198.51.100.1", "198.51.100.2"
    cmds = [["ip", "netns", "add", ns],
            ["ip", "link", "add", veth + "a", "type", "veth", "peer", "name",
             veth + "b"],
            ["ip", "link", "set", veth + "b", "netns", ns],
            ["ip", "addr", "add", host_ip + "/30", "dev", veth + "a"],
            ["ip", "link", "set", veth + "a", "up"],
            ["ip", "netns", "exec", ns, "ip", "addr", "add", ns_ip + "/30",
             "dev", veth + "b"],
            ["ip", "netns", "exec", ns, "ip", "link", "set", veth + "b", "up"],
            ["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"]]
    in_use = subprocess.run(["ip", "-br", "addr"], capture_output=True,
                            text=True).stdout
    if "198.51.100." in in_use:
        print("skip non-loopback write API test (198.51.100.0/24 in use here)")
        return
    try:
        for c in cmds:
            subprocess.run(c, check=True, capture_output=True)
    except (subprocess.CalledProcessError, OSError) as e:
        print(f"skip non-loopback write API test (netns: {e})")
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        return
    try:
        port = free_port()
        cfg = write("write2.yml", f"basic_auth_users:\n  admin: {bcrypt('adm')}\n"
                                  "basic_auth_excluded_paths: [/api/v1/tasks]\n")
        p = start("write-netns", [EXPORTER, f"--web.listen-address={host_ip}:{port}",
                                  f"--web.config.file={cfg}"])
        url = f"http://{host_ip}:{port}/api/v1/tasks"

        def curl_in_ns(*extra):
            r = subprocess.run(
                ["ip", "netns", "exec", ns, "curl", "-s", "-o", "/dev/null",
                 "-w", "%{http_code}", "--max-time", "10", "-X", "POST", url,
                 "-H", "Content-Type: application/json", "-d",
                 '{"id":"n%d","name":"w","pid":%d}' % (len(extra), os.getpid()),
                 *extra], capture_output=True, text=True)
            return r.stdout.strip()

        end = time.time() + 20
        code = ""
        while time.time() < end:
            code = curl_in_ns()
            if code not in ("000", ""):
                break
            time.sleep(0.2)
        check(code == "403", f"the write API from a non-loopback address: 403 ({code})")
        code = curl_in_ns("-u", "admin:adm")
        check(code == "201", f"with basic auth from there: 201 ({code})")
        stop(p)
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", veth + "a"], capture_output=True)


def main():
    try:
        make_ca("ca")
        p, port, _ = test_tls_server_only()
        test_reload_certificate(p, port)
        stop(p)
        test_mtls()
        test_basic_auth_headers_rate_limit()
        test_toolkit_example()
        test_bad_file_at_start()
        test_limits()
        test_write_api()
    finally:
        for p in procs:
            stop(p)
    if failures:
        print(f"{len(failures)} checks failed; logs in {tmp}")
        for f in failures:
            print("  " + f)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
