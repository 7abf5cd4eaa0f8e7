#include "testing/smtp_server.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "testing/free_port.h"
#include "testing/paths.h"

namespace flowrun::testing {
namespace {

constexpr const char* kPython = "/usr/bin/python3";

// The aiosmtpd handler: saves each DATA as <n>.json (envelope, reply) and <n>.eml (content).
constexpr const char* kHandler = R"PY(
import json, os

class Handler:
    def __init__(self, outdir, user='', password=''):
        self.outdir = outdir
        self.user = user
        self.password = password
        self.count = 0

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(*args)

    def _check(self, login, password):
        return bool(self.user) and login == self.user.encode() and password == self.password.encode()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith('reject-'):
            return '550 5.1.1 No such user'
        envelope.rcpt_tos.append(address)
        return '250 OK'

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.user and not session.authenticated:
            return '530 5.7.0 Authentication required'
        envelope.mail_from = address
        return '250 OK'

    async def auth_PLAIN(self, server, args):
        import base64
        from aiosmtpd.smtp import AuthResult, MISSING
        if len(args) >= 2:
            blob = base64.b64decode(args[1])
        else:
            blob = await server.challenge_auth('', encode_to_b64=False)
            if blob is MISSING:
                return AuthResult(success=False, handled=False)
        parts = blob.split(b'\0')
        if len(parts) != 3:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=self._check(parts[1], parts[2]), handled=False,
                          auth_data=parts[1])

    async def auth_LOGIN(self, server, args):
        import base64
        from aiosmtpd.smtp import AuthResult, MISSING
        if len(args) >= 2:
            login = base64.b64decode(args[1])
        else:
            login = await server.challenge_auth('Username:')
        if login is MISSING:
            return AuthResult(success=False, handled=False)
        password = await server.challenge_auth('Password:')
        if password is MISSING:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=self._check(login, password), handled=False, auth_data=login)

    async def handle_DATA(self, server, session, envelope):
        reply = '250 OK'
        control = os.path.join(self.outdir, 'refuse-next')
        if os.path.exists(control):
            with open(control) as f:
                count, text = f.read().split(' ', 1)
            if int(count) > 0:
                reply = text.strip()
                with open(control, 'w') as f:
                    f.write('%d %s' % (int(count) - 1, text))
        self.count += 1
        base = os.path.join(self.outdir, '%05d' % self.count)
        with open(base + '.eml', 'wb') as f:
            f.write(envelope.original_content or envelope.content)
        auth = getattr(session, 'auth_data', None)
        meta = {'mail_from': envelope.mail_from, 'rcpt_tos': envelope.rcpt_tos, 'reply': reply,
                'auth_user': auth.decode() if isinstance(auth, bytes) else ''}
        with open(base + '.tmp', 'w') as f:
            json.dump(meta, f)
        os.rename(base + '.tmp', base + '.json')
        return reply
)PY";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

std::unique_ptr<SmtpServer> SmtpServer::Start(const SmtpServerOptions& options) {
  if (access(kPython, X_OK) != 0) {
    std::fprintf(stderr, "SmtpServer: %s is missing; install python3 and python3-aiosmtpd\n",
                 kPython);
    std::abort();
  }
  std::unique_ptr<SmtpServer> server(new SmtpServer());
  server->dir_ = MakeTempDir();
  server->implicit_tls_ = options.implicit_tls;
  std::string module_dir = server->dir_ + "/module";
  std::string mail_dir = server->dir_ + "/mail";
  std::filesystem::create_directories(module_dir);
  std::filesystem::create_directories(mail_dir);
  std::ofstream(module_dir + "/flowrun_smtp_sink.py") << kHandler;
  server->port_ = FreeLoopbackPort();

  std::vector<std::string> args = {kPython, "-m", "aiosmtpd",
                                   "-n",    "-l", "127.0.0.1:" + std::to_string(server->port_)};
  if (!options.tls_cert.empty()) {
    if (options.implicit_tls) {
      args.insert(args.end(), {"--smtpscert", options.tls_cert, "--smtpskey", options.tls_key});
    } else {
      args.insert(args.end(),
                  {"--tlscert", options.tls_cert, "--tlskey", options.tls_key, "--no-requiretls"});
    }
  }
  args.insert(args.end(), {"-c", "flowrun_smtp_sink.Handler", mail_dir});
  if (!options.auth_user.empty())
    args.insert(args.end(), {options.auth_user, options.auth_password});

  std::string log = server->dir_ + "/aiosmtpd.log";
  pid_t pid = fork();
  if (pid == 0) {
    setenv("PYTHONPATH", module_dir.c_str(), 1);
    FILE* out = std::freopen(log.c_str(), "w", stderr);
    (void)out;
    dup2(fileno(stderr), STDOUT_FILENO);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(kPython, argv.data());
    _exit(127);
  }
  server->pid_ = pid;
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!LoopbackPortAccepts(server->port_)) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid || std::chrono::steady_clock::now() > give_up) {
      std::fprintf(stderr,
                   "SmtpServer: aiosmtpd did not start (is python3-aiosmtpd installed?)\n%s\n",
                   ReadAll(log).c_str());
      server->pid_ = -1;
      std::abort();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return server;
}

SmtpServer::~SmtpServer() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

std::string SmtpServer::Url() const {
  return std::string(implicit_tls_ ? "smtps" : "smtp") + "://127.0.0.1:" + std::to_string(port_);
}

void SmtpServer::RefuseNext(int count, const std::string& reply) {
  std::ofstream(dir_ + "/mail/refuse-next") << count << " " << reply;
}

std::vector<ReceivedMail> SmtpServer::Received() const {
  std::vector<std::string> metas;
  for (const auto& entry : std::filesystem::directory_iterator(dir_ + "/mail")) {
    if (entry.path().extension() == ".json") metas.push_back(entry.path().string());
  }
  std::sort(metas.begin(), metas.end());
  std::vector<ReceivedMail> out;
  for (const std::string& meta_path : metas) {
    nlohmann::json meta = nlohmann::json::parse(ReadAll(meta_path));
    ReceivedMail mail;
    mail.mail_from = meta["mail_from"];
    mail.rcpt_tos = meta["rcpt_tos"].get<std::vector<std::string>>();
    mail.reply = meta["reply"];
    mail.auth_user = meta["auth_user"];
    mail.data = ReadAll(meta_path.substr(0, meta_path.size() - 5) + ".eml");
    out.push_back(std::move(mail));
  }
  return out;
}

std::vector<ReceivedMail> SmtpServer::Accepted() const {
  std::vector<ReceivedMail> out;
  for (ReceivedMail& m : Received()) {
    if (m.reply.rfind("250", 0) == 0) out.push_back(std::move(m));
  }
  return out;
}

}  // namespace flowrun::testing
