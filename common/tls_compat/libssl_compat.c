/* A stand-in for "libssl.so" that CivetWeb 1.15, as Debian 12 builds it,
 * loads at run time (common/civetweb_tls.h says why and how). Its only
 * symbol is the OpenSSL 1.1 name CivetWeb looks up that OpenSSL 3 no longer
 * exports; every other symbol comes from libssl.so.3, which this library
 * depends on. */
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate
X509* SSL_get_peer_certificate(const SSL* s);

/* Same contract: OpenSSL 1.1's SSL_get_peer_certificate already returned a
 * reference the caller frees, which is what SSL_get1_peer_certificate does. */
X509* SSL_get_peer_certificate(const SSL* s) {
  return SSL_get1_peer_certificate(s);
}
