// Test certificates: a throwaway certificate authority and a server certificate it signed for
// "localhost" and 127.0.0.1, generated with the `openssl` command line tool, for tests that run
// real TLS servers on loopback.
#pragma once

#include <string>

namespace flowrun::testing {

struct TestCertificates {
  std::string ca_cert;        // PEM file of the CA, to trust
  std::string server_cert;    // PEM file of the server certificate
  std::string server_key;     // PEM file of its private key
  std::string other_ca_cert;  // a second, unrelated CA that did not sign the server certificate
};

// Generates the files into `dir`. Aborts the test binary with a message when openssl fails.
TestCertificates GenerateTestCertificates(const std::string& dir);

}  // namespace flowrun::testing
