// http_front: the HTTP front of `flowrun serve` under hostile and heavy load, measured from
// outside over loopback, for one build or two side by side (this build and a baseline binary).
//
//   1. N idle connections plus M slowloris clients (one header byte a second each; reconnecting
//      when cut off), while a well-behaved client probes GET /healthz and POST /e/{key}, each on a
//      new connection: p50/p99 latency, probes that failed, the server's RSS.
//   2. K concurrent senders of one event each (K connections, K requests sent at once, every
//      answer awaited): events acknowledged durably per second, median of the rounds; and the
//      server's CPU time per event over all rounds (which the machine's load moves far less).
//   3. wrk with keep-alive: GET /healthz and a one-event POST /e/{key}, requests per second.
//
// A failed probe counts as its timeout in the percentiles. Prints one markdown table.
//
//   http_front --flowrun build/flowrun [--baseline OLD/flowrun] [--idle 10000] [--slowloris 1000]
//              [--senders 1000] [--rounds 5] [--probes 200] [--wrk-seconds 5]
//              [--workloads siege,senders,wrk]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr auto kProbeTimeout = std::chrono::seconds(5);
const char* const kEventKey = "bench";

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Options {
  std::string flowrun;
  std::string baseline;
  int idle = 10000;
  int slowloris = 1000;
  int senders = 1000;
  int rounds = 5;
  int probes = 200;
  int wrk_seconds = 5;
  // Which of the three workloads to run (a comma-separated subset of siege,senders,wrk).
  std::string workloads = "siege,senders,wrk";
  bool Runs(const std::string& workload) const {
    return ("," + workloads + ",").find("," + workload + ",") != std::string::npos;
  }
};

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

// A non-blocking connect to loopback:port from 127.0.0.<source> that waits up to `patience`;
// -1 when it fails. The server limits connections per client address, so the load comes from
// several addresses (all of 127/8 is loopback), as it would from several attackers.
int Connect(int port, milliseconds patience = milliseconds(2000), int source = 1) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(0x7f000000u | static_cast<uint32_t>(source));
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
    close(fd);
    return -1;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 &&
      errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  int error = 0;
  socklen_t length = sizeof(error);
  if (poll(&p, 1, static_cast<int>(patience.count())) != 1 ||
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

bool SendAll(int fd, const std::string& bytes, Clock::time_point deadline) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN) return false;
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    pollfd p{fd, POLLOUT, 0};
    if (left <= 0 || poll(&p, 1, static_cast<int>(left)) != 1) return false;
  }
  return true;
}

// Appends what arrives to `buffer`; false on EOF, error or the deadline.
bool ReadSome(int fd, std::string& buffer, Clock::time_point deadline) {
  char chunk[8192];
  while (true) {
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n > 0) {
      buffer.append(chunk, static_cast<size_t>(n));
      return true;
    }
    if (n == 0 || errno != EAGAIN) return false;
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, static_cast<int>(left)) != 1) return false;
  }
}

// The status of the whole response at the front of `buffer` (consumed), or nullopt when it is
// not whole yet.
std::optional<int> TakeResponse(std::string& buffer) {
  size_t end = buffer.find("\r\n\r\n");
  if (end == std::string::npos) return std::nullopt;
  size_t length = 0;
  std::string head = buffer.substr(0, end);
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t at = head.find("\r\ncontent-length:");
  if (at != std::string::npos) length = std::strtoul(head.c_str() + at + 17, nullptr, 10);
  if (buffer.size() < end + 4 + length) return std::nullopt;
  int status = std::atoi(buffer.c_str() + 9);
  buffer.erase(0, end + 4 + length);
  return status;
}

std::string HealthRequest() { return "GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"; }

// A one-event POST /e/{key}; with `close`, it asks the server to close the connection after
// answering, as a sender that has nothing more to send.
std::string EventRequest(const std::string& tag, bool close = false) {
  std::string body = R"({"name":"bench/event","data":{"tag":")" + tag + R"("}})";
  return "POST /e/" + std::string(kEventKey) +
         " HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n" +
         (close ? "Connection: close\r\n" : "") + "Content-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

// One request on a new connection; its latency, or nullopt when it failed or was not a 200.
std::optional<Clock::duration> Probe(int port, const std::string& request) {
  auto start = Clock::now();
  auto deadline = start + kProbeTimeout;
  int fd = Connect(port, std::chrono::duration_cast<milliseconds>(kProbeTimeout));
  if (fd < 0) return std::nullopt;
  std::string buffer;
  std::optional<int> status;
  if (SendAll(fd, request, deadline)) {
    while (!(status = TakeResponse(buffer)) && ReadSome(fd, buffer, deadline)) {
    }
  }
  close(fd);
  if (status != 200) return std::nullopt;
  return Clock::now() - start;
}

struct Server {
  pid_t pid = -1;
  int port = 0;
  std::string dir;
};

Server StartServer(const std::string& binary, const std::string& label) {
  Server server;
  server.dir = (std::filesystem::temp_directory_path() /
                ("flowrun-http-front-" + label + "-" + std::to_string(getpid())))
                   .string();
  std::filesystem::remove_all(server.dir);
  std::filesystem::create_directories(server.dir + "/flows");
  std::ofstream(server.dir + "/flowrun.yaml") << "event_keys: [" << kEventKey << "]\n";
  server.port = FreePort();
  std::string listen = "127.0.0.1:" + std::to_string(server.port);
  std::string config = server.dir + "/flowrun.yaml";
  std::string log = server.dir + "/serve.log";
  server.pid = fork();
  if (server.pid == 0) {
    int out = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, 1);
    dup2(out, 2);
    execl(binary.c_str(), binary.c_str(), "serve", "--config", config.c_str(), "--listen",
          listen.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    if (Probe(server.port, HealthRequest())) return server;
    std::this_thread::sleep_for(milliseconds(50));
  }
  std::cerr << "http_front: " << binary << " did not answer /healthz within 30 s (" << log << ")\n";
  std::exit(2);
}

void StopServer(Server& server) {
  kill(server.pid, SIGTERM);
  for (int i = 0; i < 300; ++i) {
    if (waitpid(server.pid, nullptr, WNOHANG) == server.pid) break;
    std::this_thread::sleep_for(milliseconds(100));
    if (i == 299) {
      kill(server.pid, SIGKILL);
      waitpid(server.pid, nullptr, 0);
    }
  }
  std::filesystem::remove_all(server.dir);
}

// kB of VmRSS or VmHWM of `pid`.
long StatusKb(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::atol(line.c_str() + key.size() + 1);
  }
  return -1;
}

// `count` connections from 127.0.0.<first_source> on (500 an address), opened 500 at a time,
// each given a second to complete, all within 30 s; returns those that were established.
std::vector<int> ConnectMany(int port, int count, int first_source) {
  std::vector<int> held;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  for (int start = 0; start < count && Clock::now() < deadline; start += 500) {
    std::vector<pollfd> pending;
    for (int i = start; i < std::min(count, start + 500); ++i) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      sockaddr_in local{};
      local.sin_family = AF_INET;
      local.sin_addr.s_addr = htonl(0x7f000000u | static_cast<uint32_t>(first_source + i / 500));
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(static_cast<uint16_t>(port));
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0 ||
          (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 &&
           errno != EINPROGRESS)) {
        if (fd >= 0) close(fd);
        continue;
      }
      pending.push_back(pollfd{fd, POLLOUT, 0});
    }
    const auto batch_deadline = Clock::now() + std::chrono::seconds(1);
    size_t open = 0;
    while (open < pending.size() && Clock::now() < batch_deadline) {
      auto left = std::chrono::duration_cast<milliseconds>(batch_deadline - Clock::now());
      poll(pending.data(), pending.size(), static_cast<int>(std::max<long>(1, left.count())));
      open = 0;
      for (const pollfd& p : pending) open += (p.revents & POLLOUT) != 0;
    }
    for (pollfd& p : pending) {
      int error = 0;
      socklen_t length = sizeof(error);
      if ((p.revents & POLLOUT) && getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 &&
          error == 0) {
        held.push_back(p.fd);
      } else {
        close(p.fd);
      }
    }
  }
  return held;
}

// CPU time (user and system, all threads) that process `pid` has used so far.
std::chrono::duration<double> CpuTime(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name (which is in parentheses and may hold spaces): utime and
  // stime are the 12th and 13th of them.
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 1; i <= 13 && fields >> field; ++i) {
    if (i >= 12) ticks += std::atof(field.c_str());
  }
  return std::chrono::duration<double>(ticks / static_cast<double>(sysconf(_SC_CLK_TCK)));
}

struct Percentiles {
  double p50 = 0;
  double p99 = 0;
  int failed = 0;
};

Percentiles Summarize(std::vector<double> ms, int failed) {
  for (int i = 0; i < failed; ++i) ms.push_back(Ms(kProbeTimeout));
  std::sort(ms.begin(), ms.end());
  Percentiles out;
  out.failed = failed;
  if (ms.empty()) return out;
  auto at = [&ms](double q) {
    size_t index = static_cast<size_t>(q * static_cast<double>(ms.size()) + 0.999999);
    return ms[std::min(ms.size() - 1, index == 0 ? 0 : index - 1)];
  };
  out.p50 = at(0.50);
  out.p99 = at(0.99);
  return out;
}

struct Results {
  int idle_held = 0;
  long idle_reopened = 0;
  long slowloris_reconnects = 0;
  Percentiles health;
  Percentiles ingest;
  double rss_mb = 0;
  double events_per_second = 0;
  int sender_failures = 0;
  double server_cpu_us_per_event = 0;  // over all rounds, whatever the machine's load
  double wrk_health = 0;
  double wrk_ingest = 0;
};

// Workload 1.
void UnderSiege(const Options& options, const Server& server, Results& results) {
  std::vector<int> idle = ConnectMany(server.port, options.idle, 10);
  results.idle_held = static_cast<int>(idle.size());
  std::atomic<bool> stop{false};
  std::atomic<long> reconnects{0};
  const std::string opening = "GET /healthz HTTP/1.1\r\nHost: bench\r\nX-Slow: ";
  std::atomic<long> idle_reopened{0};
  std::thread slowloris([&] {
    std::vector<int> fds(options.slowloris, -1);
    while (!stop.load()) {
      auto round = Clock::now();
      // Idle connections that the server closed (header timeout, or evicted) are opened again,
      // so that about `idle` stay open all along, as a real crowd of idle clients would.
      std::vector<pollfd> polls(idle.size());
      for (size_t i = 0; i < idle.size(); ++i) polls[i] = pollfd{idle[i], POLLIN, 0};
      poll(polls.data(), polls.size(), 0);
      for (size_t i = 0; i < idle.size() && !stop.load(); ++i) {
        if (polls[i].revents == 0) continue;
        close(idle[i]);
        idle[i] = Connect(server.port, milliseconds(200), 10 + static_cast<int>(i) / 500);
        idle_reopened.fetch_add(1);
        if (idle[i] < 0) idle[i] = socket(AF_INET, SOCK_STREAM, 0);  // retried next round
      }
      for (size_t i = 0; i < fds.size(); ++i) {
        int& fd = fds[i];
        if (fd >= 0 && send(fd, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) continue;
        if (fd >= 0) {
          close(fd);
          reconnects.fetch_add(1);
        }
        fd = Connect(server.port, milliseconds(200), 100 + static_cast<int>(i) / 500);
        if (fd >= 0) send(fd, opening.data(), opening.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (stop.load()) break;
      }
      while (!stop.load() && Clock::now() - round < std::chrono::seconds(1)) {
        std::this_thread::sleep_for(milliseconds(20));
      }
    }
    for (int fd : fds) {
      if (fd >= 0) close(fd);
    }
  });
  std::this_thread::sleep_for(std::chrono::seconds(2));
  std::vector<double> health;
  std::vector<double> ingest;
  int health_failed = 0;
  int ingest_failed = 0;
  // Probes every 60 ms, so that the slowloris clients are cut off (after the 10 s header
  // timeout) and reconnect while they run; at most 40 s, the probes not sent by then count as
  // failed.
  const auto siege_end = Clock::now() + std::chrono::seconds(40);
  for (int i = 0; i < options.probes; ++i) {
    if (Clock::now() > siege_end) {
      health_failed += options.probes - i;
      ingest_failed += options.probes - i;
      break;
    }
    if (auto d = Probe(server.port, HealthRequest())) {
      health.push_back(Ms(*d));
    } else {
      ++health_failed;
    }
    if (auto d = Probe(server.port, EventRequest("siege-" + std::to_string(i)))) {
      ingest.push_back(Ms(*d));
    } else {
      ++ingest_failed;
    }
    std::this_thread::sleep_for(milliseconds(60));
  }
  results.rss_mb = static_cast<double>(StatusKb(server.pid, "VmRSS")) / 1024.0;
  stop.store(true);
  slowloris.join();
  results.slowloris_reconnects = reconnects.load();
  results.idle_reopened = idle_reopened.load();
  for (int fd : idle) close(fd);
  results.health = Summarize(health, health_failed);
  results.ingest = Summarize(ingest, ingest_failed);
}

// Workload 2: one round of `senders` concurrent one-event requests; its duration.
std::optional<Clock::duration> SendersRound(const Server& server, int senders, int round,
                                            int& failures) {
  // 500 senders an address, from 127.0.0.150 up; each round from other addresses than the
  // rounds just before it, so that the connections of earlier rounds (in TIME_WAIT for a minute)
  // take no ports from it.
  const int addresses = (senders + 499) / 500;
  const int first_source = 150 + (round % std::max(1, 100 / addresses)) * addresses;
  std::vector<int> fds;
  for (int i = 0; i < senders; ++i) {
    int fd = Connect(server.port, milliseconds(2000), first_source + i / 500);
    if (fd < 0) {
      ++failures;
      continue;
    }
    fds.push_back(fd);
  }
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  const auto start = Clock::now();
  std::vector<std::string> requests;
  for (size_t i = 0; i < fds.size(); ++i) {
    requests.push_back(
        EventRequest("r" + std::to_string(round) + "-" + std::to_string(i), /*close=*/true));
  }
  for (size_t i = 0; i < fds.size(); ++i) {
    if (!SendAll(fds[i], requests[i], deadline)) ++failures;
  }
  std::vector<std::string> buffers(fds.size());
  std::vector<bool> done(fds.size(), false);
  size_t remaining = fds.size();
  while (remaining > 0 && Clock::now() < deadline) {
    std::vector<pollfd> polls;
    std::vector<size_t> which;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (done[i]) continue;
      polls.push_back(pollfd{fds[i], POLLIN, 0});
      which.push_back(i);
    }
    if (poll(polls.data(), polls.size(), 1000) <= 0) continue;
    for (size_t k = 0; k < polls.size(); ++k) {
      if (polls[k].revents == 0) continue;
      size_t i = which[k];
      char chunk[4096];
      ssize_t n = recv(fds[i], chunk, sizeof(chunk), MSG_DONTWAIT);
      if (n > 0) buffers[i].append(chunk, static_cast<size_t>(n));
      std::optional<int> status = TakeResponse(buffers[i]);
      if (status.has_value() || n == 0 || (n < 0 && errno != EAGAIN)) {
        if (status != 200) ++failures;
        done[i] = true;
        --remaining;
        close(fds[i]);
        fds[i] = -1;
      }
    }
  }
  auto elapsed = Clock::now() - start;
  failures += static_cast<int>(remaining);
  for (int fd : fds) {
    if (fd >= 0) close(fd);
  }
  if (remaining > 0) return std::nullopt;
  return elapsed;
}

void Senders(const Options& options, const Server& server, Results& results) {
  std::vector<double> rates;
  const auto cpu_before = CpuTime(server.pid);
  for (int round = 0; round < options.rounds; ++round) {
    std::optional<Clock::duration> d =
        SendersRound(server, options.senders, round, results.sender_failures);
    if (d) rates.push_back(options.senders / std::chrono::duration<double>(*d).count());
  }
  std::sort(rates.begin(), rates.end());
  results.events_per_second = rates.empty() ? 0 : rates[rates.size() / 2];
  results.server_cpu_us_per_event = (CpuTime(server.pid) - cpu_before).count() * 1e6 /
                                    std::max(1, options.rounds * options.senders);
}

// Workload 3: wrk's requests per second, or 0 when wrk failed.
double Wrk(const Options& options, const Server& server, const std::string& path,
           const std::string& script) {
  std::string command = "wrk -t2 -c50 -d" + std::to_string(options.wrk_seconds) + "s " +
                        (script.empty() ? "" : "-s " + script + " ") +
                        "http://127.0.0.1:" + std::to_string(server.port) + path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return 0;
  std::string output;
  char chunk[4096];
  while (size_t n = fread(chunk, 1, sizeof(chunk), pipe)) output.append(chunk, n);
  pclose(pipe);
  size_t at = output.find("Requests/sec:");
  if (at == std::string::npos) {
    std::cerr << "wrk failed: " << output << "\n";
    return 0;
  }
  double rate = std::atof(output.c_str() + at + 13);
  size_t errors = output.find("Non-2xx or 3xx responses:");
  if (errors != std::string::npos) std::cerr << "wrk " << path << ": " << output.substr(errors);
  return rate;
}

Results Measure(const Options& options, const std::string& binary, const std::string& label) {
  Results results;
  std::cerr << "http_front: measuring " << binary << "\n";
  Server server;
  if (options.Runs("siege")) {
    server = StartServer(binary, label);
    UnderSiege(options, server, results);
    StopServer(server);
  }
  server = StartServer(binary, label);
  if (options.Runs("senders")) Senders(options, server, results);
  if (!options.Runs("wrk")) {
    StopServer(server);
    return results;
  }
  std::string script = server.dir + "/post.lua";
  std::ofstream(script) << "wrk.method = \"POST\"\n"
                        << "wrk.body = '{\"name\":\"bench/wrk\",\"data\":{\"n\":1}}'\n"
                        << "wrk.headers[\"Content-Type\"] = \"application/json\"\n";
  results.wrk_health = Wrk(options, server, "/healthz", "");
  results.wrk_ingest = Wrk(options, server, "/e/" + std::string(kEventKey), script);
  StopServer(server);
  return results;
}

std::string Fixed(double value, int digits = 1) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(digits);
  out << value;
  return out.str();
}

std::string Latency(const Percentiles& p) {
  return Fixed(p.p50) + " / " + Fixed(p.p99) +
         (p.failed ? " (" + std::to_string(p.failed) + " failed)" : "");
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    std::string value = argv[i + 1];
    if (flag == "--flowrun")
      options.flowrun = value;
    else if (flag == "--baseline")
      options.baseline = value;
    else if (flag == "--idle")
      options.idle = std::stoi(value);
    else if (flag == "--slowloris")
      options.slowloris = std::stoi(value);
    else if (flag == "--senders")
      options.senders = std::stoi(value);
    else if (flag == "--rounds")
      options.rounds = std::stoi(value);
    else if (flag == "--probes")
      options.probes = std::stoi(value);
    else if (flag == "--wrk-seconds")
      options.wrk_seconds = std::stoi(value);
    else if (flag == "--workloads")
      options.workloads = value;
    else {
      std::cerr << "http_front: unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (options.flowrun.empty()) {
    std::cerr << "usage: http_front --flowrun BIN [--baseline BIN] [--idle N] [--slowloris N]"
                 " [--senders N] [--rounds N] [--probes N] [--wrk-seconds N]"
                 " [--workloads siege,senders,wrk]\n";
    return 2;
  }
  // Both sides of every connection live on this machine: raise the soft limit to the hard one
  // (the servers inherit it; flowrun also raises its own).
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  signal(SIGPIPE, SIG_IGN);

  std::vector<std::pair<std::string, Results>> columns;
  columns.emplace_back("this build", Measure(options, options.flowrun, "new"));
  if (!options.baseline.empty()) {
    columns.emplace_back("baseline", Measure(options, options.baseline, "old"));
  }
  // A row of a workload that ran.
  auto row = [&columns, &options](const std::string& key, const std::string& workload,
                                  const std::string& metric, const std::string& goal, auto cell) {
    if (!options.Runs(key)) return;
    std::cout << "| " << workload << " | " << metric << " | " << goal;
    for (const auto& [name, results] : columns) std::cout << " | " << cell(results);
    std::cout << " |\n";
  };
  std::cout << "| workload | metric | goal";
  for (const auto& [name, results] : columns) std::cout << " | " << name;
  std::cout << " |\n| --- | --- | ---";
  for (size_t i = 0; i < columns.size(); ++i) std::cout << " | ---";
  std::cout << " |\n";
  const std::string siege = std::to_string(options.idle) + " idle connections + " +
                            std::to_string(options.slowloris) + " slowloris clients";
  row("siege", siege, "idle connections held open", "",
      [](const Results& r) { return std::to_string(r.idle_held); });
  row("siege", siege, "idle connections closed by the server (and reopened)", "",
      [](const Results& r) { return std::to_string(r.idle_reopened); });
  row("siege", siege, "GET /healthz p50 / p99, ms (" + std::to_string(options.probes) + " probes)",
      "p99 ≤ 20", [](const Results& r) { return Latency(r.health); });
  row("siege", siege, "POST /e/{key} p50 / p99, ms", "p99 ≤ 50",
      [](const Results& r) { return Latency(r.ingest); });
  row("siege", siege, "server RSS, MB", "≤ 150", [](const Results& r) { return Fixed(r.rss_mb); });
  row("siege", siege, "slowloris connections cut off by the server", "",
      [](const Results& r) { return std::to_string(r.slowloris_reconnects); });
  const std::string senders =
      std::to_string(options.senders) + " concurrent senders of one event each (SQLite FULL)";
  row("senders", senders, "events/s, median of " + std::to_string(options.rounds) + " rounds",
      "≥ 10,000", [](const Results& r) {
        return Fixed(r.events_per_second, 0) +
               (r.sender_failures ? " (" + std::to_string(r.sender_failures) + " failed)" : "");
      });
  row("senders", senders, "server CPU (user + system) per event, µs", "",
      [](const Results& r) { return Fixed(r.server_cpu_us_per_event, 0); });
  const std::string wrk =
      "wrk, keep-alive, 2 threads, 50 connections, " + std::to_string(options.wrk_seconds) + " s";
  row("wrk", wrk, "GET /healthz requests/s", "≥ baseline",
      [](const Results& r) { return Fixed(r.wrk_health, 0); });
  row("wrk", wrk, "POST /e/{key} (one event) requests/s", "≥ baseline",
      [](const Results& r) { return Fixed(r.wrk_ingest, 0); });
  return 0;
}
