// Includes cpp-httplib as Debian's libcpp-httplib.so was built (pkg-config cpp-httplib Cflags):
// with OpenSSL, zlib and Brotli support. httplib.h declares different members depending on these
// macros, so every file that includes it must see the same ones; include this header instead of
// <httplib.h>.
#pragma once

#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT
#endif
#ifndef CPPHTTPLIB_ZLIB_SUPPORT
#define CPPHTTPLIB_ZLIB_SUPPORT
#endif
#ifndef CPPHTTPLIB_BROTLI_SUPPORT
#define CPPHTTPLIB_BROTLI_SUPPORT
#endif

#include <httplib.h>
