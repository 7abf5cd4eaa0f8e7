// What one HTTP request in flight costs in resident memory with each of the `http` action's
// clients, to tell how many requests to a slow API fit in a memory budget. N POSTs (the action's
// options: TCP_NODELAY, a JSON body, its headers) wait at once on a loopback server that answers
// after 5 s (testing/raw_http_peer.h, in a child process so that its memory is not counted); the
// process's RSS before the first request and at the peak gives the cost per request. Rows:
//   - libcurl (https, and http through a proxy), split into the easy handles (curl_easy_init and
//     the options) and the connection (socket, connection state, receive buffer), with libcurl's
//     default receive buffer (16 KB) and its smallest (1 KB, CURLOPT_BUFFERSIZE);
//   - the plain-http client (plain_http_client.h, http:// without a proxy) on an OutboundLoop.
// Prints a markdown table of medians.
//
//   build/bench/http_memory_bench [--transfers N] [--repeat N]   (Defaults: 5000, 3)
#include <curl/curl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <string>
#include <vector>

#include "actions/http/plain_http_client.h"
#include "actions/outbound_loop.h"
#include "process_rss.h"
#include "testing/raw_http_peer.h"

namespace {

struct Cost {
  double handle_kb = 0;      // per easy handle, set up, before it connects
  double connection_kb = 0;  // per transfer in flight, beyond its handle
  bool ok = false;
};

size_t DropBody(char*, size_t size, size_t n, void*) { return size * n; }

// Runs `measure` in a child process of its own, so that every round starts from the same heap,
// and reads its costs back through a pipe.
template <typename Measure>
Cost InChild(Measure measure) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return {};
  pid_t child = fork();
  if (child < 0) return {};
  if (child == 0) {
    close(pipe_fds[0]);
    Cost cost = measure();
    (void)!write(pipe_fds[1], &cost, sizeof(cost));
    _exit(0);
  }
  close(pipe_fds[1]);
  Cost cost;
  if (read(pipe_fds[0], &cost, sizeof(cost)) != sizeof(cost)) cost = {};
  close(pipe_fds[0]);
  waitpid(child, nullptr, 0);
  return cost;
}

// Runs `transfers` POSTs at once to `url` (which answers late) through libcurl, in a child
// process (InChild).
Cost Measure(const std::string& url, int transfers, long buffer_size) {
  return InChild([&] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM* multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(transfers) + 16);
    const std::string body = R"({"n":"12345"})";
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Idempotency-Key: 0123456789abcdef0123456789abcdef");
    headers = curl_slist_append(headers, "Expect:");
    const long before = flowrun::bench::ProcessRssKb();
    std::vector<CURL*> easies;
    for (int i = 0; i < transfers; ++i) {
      CURL* easy = curl_easy_init();
      curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
      curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
      if (buffer_size > 0) curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, buffer_size);
      curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, DropBody);
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
      curl_multi_add_handle(multi, easy);
      easies.push_back(easy);
    }
    const long handles = flowrun::bench::ProcessRssKb();
    long peak = handles;
    int running = 1;
    int failed = 0;
    while (running > 0) {
      curl_multi_perform(multi, &running);
      peak = std::max(peak, flowrun::bench::ProcessRssKb());
      curl_multi_poll(multi, nullptr, 0, 100, nullptr);
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
        if (msg->msg == CURLMSG_DONE && msg->data.result != CURLE_OK) ++failed;
      }
    }
    Cost cost;
    cost.handle_kb = static_cast<double>(handles - before) / transfers;
    cost.connection_kb = static_cast<double>(peak - handles) / transfers;
    cost.ok = failed == 0;
    return cost;
  });
}

// The same through the plain-http client (InChild); the loop and client are made
// before the first reading, so the cost is the requests' alone.
Cost MeasurePlain(int port, int transfers) {
  return InChild([&] {
    flowrun::OutboundLoop loop;
    (void)loop.Start();
    flowrun::PlainHttpClientOptions options;
    options.max_connections_per_host = static_cast<size_t>(transfers);
    flowrun::PlainHttpClient client(loop, options);
    const long before = flowrun::bench::ProcessRssKb();
    std::promise<void> all_done;
    std::atomic<int> left{transfers};
    std::atomic<int> failed{0};
    long peak = before;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (int i = 0; i < transfers; ++i) {
      flowrun::PlainHttpRequest request;
      request.host = "127.0.0.1";
      request.port = port;
      request.method = "POST";
      request.target = "/delay/5000";
      request.headers = {{"Content-Type", "application/json"},
                         {"Idempotency-Key", "0123456789abcdef0123456789abcdef"}};
      request.body = R"({"n":"12345"})";
      request.connect_until = until;
      request.until = until;
      request.max_body_bytes = 1 << 20;
      client.Send(std::move(request), [&](flowrun::PlainHttpResult result) {
        if (!result.error.ok() || result.status != 200) ++failed;
        if (--left == 0) all_done.set_value();
      });
    }
    auto done = all_done.get_future();
    while (done.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
      peak = std::max(peak, flowrun::bench::ProcessRssKb());
    }
    Cost cost;
    cost.connection_kb = static_cast<double>(peak - before) / transfers;
    cost.ok = failed == 0;
    return cost;
  });
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int transfers = 5000;
  int repeat = 3;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--transfers") == 0) transfers = std::max(1, std::atoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--repeat") == 0) repeat = std::max(1, std::atoi(argv[i + 1]));
  }
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  // The server runs in a child of its own: its connections' memory is not this process's.
  int port_pipe[2];
  if (pipe(port_pipe) != 0) return 1;
  pid_t server = fork();
  if (server == 0) {
    close(port_pipe[0]);
    auto peer = flowrun::testing::RawHttpPeer::Start();
    int port = peer ? peer->port() : 0;
    (void)!write(port_pipe[1], &port, sizeof(port));
    close(port_pipe[1]);
    pause();  // until the parent kills it
    _exit(0);
  }
  close(port_pipe[1]);
  int port = 0;
  if (read(port_pipe[0], &port, sizeof(port)) != sizeof(port) || port == 0) {
    std::fprintf(stderr, "could not start the loopback server\n");
    return 1;
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/delay/5000";

  std::printf(
      "| client | requests in flight | per easy handle | per connection | "
      "per request in flight (median of %d) |\n",
      repeat);
  std::printf("| --- | ---: | ---: | ---: | ---: |\n");
  int status = 0;
  for (long buffer_size : {0L, 1024L}) {
    std::vector<double> handle_kb;
    std::vector<double> connection_kb;
    std::vector<double> total_kb;
    bool ok = true;
    for (int r = 0; r < repeat; ++r) {
      Cost cost = Measure(url, transfers, buffer_size);
      ok = ok && cost.ok;
      handle_kb.push_back(cost.handle_kb);
      connection_kb.push_back(cost.connection_kb);
      total_kb.push_back(cost.handle_kb + cost.connection_kb);
    }
    if (!ok) status = 1;
    std::printf("| %s | %d | %.1f KB | %.1f KB | %.1f KB%s |\n",
                buffer_size == 0 ? "libcurl, 16 KB receive buffer (its default)"
                                 : "libcurl, 1 KB receive buffer (CURLOPT_BUFFERSIZE)",
                transfers, Median(handle_kb), Median(connection_kb), Median(total_kb),
                ok ? "" : " (some requests failed)");
  }
  {
    std::vector<double> total_kb;
    bool ok = true;
    for (int r = 0; r < repeat; ++r) {
      Cost cost = MeasurePlain(port, transfers);
      ok = ok && cost.ok;
      total_kb.push_back(cost.connection_kb);
    }
    if (!ok) status = 1;
    std::printf("| plain-http client (http:// without a proxy) | %d | - | - | %.1f KB%s |\n",
                transfers, Median(total_kb), ok ? "" : " (some requests failed)");
  }
  kill(server, SIGKILL);
  waitpid(server, nullptr, 0);
  return status;
}
