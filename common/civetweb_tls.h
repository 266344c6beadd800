// Makes CivetWeb's TLS work with the OpenSSL that Debian 12 ships.
//
// Debian 12's libcivetweb1 (1.15) is built to load OpenSSL at run time
// (dlopen of "libssl.so" and "libcrypto.so") with the OpenSSL 1.1 list of
// function names, while Debian 12 ships OpenSSL 3, which no longer exports
// one of them (SSL_get_peer_certificate, renamed SSL_get1_peer_certificate
// with the same contract). CivetWeb then refuses to start any TLS port
// ("load_tls_dll: libssl.so: cannot find SSL_get_peer_certificate"), and
// the unversioned names exist only where libssl-dev is installed.
//
// LoadCivetwebTlsCompat() loads two tiny libraries built with the daemons
// (common/tls_compat/) from memory before CivetWeb looks for OpenSSL. Their
// sonames are "libssl.so" and "libcrypto.so", so the dynamic loader hands
// them to CivetWeb's dlopen calls; they depend on libssl.so.3 and
// libcrypto.so.3, where CivetWeb's symbol lookups find every other
// function, and the first adds the one missing name.
#ifndef PROPMON_COMMON_CIVETWEB_TLS_H_
#define PROPMON_COMMON_CIVETWEB_TLS_H_

#include "common/status.h"

namespace propmon {

// Loads the stand-ins once per process (later calls return the first
// result). Call before CivetWeb starts a TLS port. Thread-safe.
Status LoadCivetwebTlsCompat();

}  // namespace propmon

#endif  // PROPMON_COMMON_CIVETWEB_TLS_H_
