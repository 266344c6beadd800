/* A stand-in for "libcrypto.so" that CivetWeb 1.15 loads at run time: no
 * symbols of its own, only a dependency on libcrypto.so.3, so that the
 * unversioned name (shipped only by libssl-dev) is not needed at run time.
 * common/civetweb_tls.h says why. */
int propmon_libcrypto_compat;
