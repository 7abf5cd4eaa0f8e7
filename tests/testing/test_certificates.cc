#include "testing/test_certificates.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "testing/subprocess.h"

namespace flowrun::testing {
namespace {

void Run(const std::vector<std::string>& argv) {
  ProcessResult result = RunProcess(argv);
  if (result.exit_code != 0) {
    std::fprintf(stderr, "openssl failed (is the openssl package installed?): %s\n%s\n",
                 argv[1].c_str(), result.err.c_str());
    std::abort();
  }
}

void MakeCa(const std::string& dir, const std::string& name) {
  Run({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
       "/CN=flowrun test " + name, "-keyout", dir + "/" + name + ".key", "-out",
       dir + "/" + name + ".pem", "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
       "keyUsage=critical,keyCertSign,cRLSign"});
}

}  // namespace

TestCertificates GenerateTestCertificates(const std::string& dir) {
  MakeCa(dir, "ca");
  MakeCa(dir, "other-ca");
  Run({"/usr/bin/openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
       "-keyout", dir + "/server.key", "-out", dir + "/server.csr"});
  std::ofstream(dir + "/server.ext") << "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                        "basicConstraints=CA:FALSE\n"
                                        "extendedKeyUsage=serverAuth\n";
  Run({"/usr/bin/openssl", "x509", "-req", "-in", dir + "/server.csr", "-CA", dir + "/ca.pem",
       "-CAkey", dir + "/ca.key", "-CAcreateserial", "-days", "2", "-out", dir + "/server.pem",
       "-extfile", dir + "/server.ext"});
  return {dir + "/ca.pem", dir + "/server.pem", dir + "/server.key", dir + "/other-ca.pem"};
}

}  // namespace flowrun::testing
