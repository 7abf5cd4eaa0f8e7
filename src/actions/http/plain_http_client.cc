#include "actions/http/plain_http_client.h"

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cctype>
#include <deque>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "actions/host_resolver.h"
#include "actions/loop_stream.h"
#include "common/ascii_case.h"

namespace flowrun {
namespace {

namespace http = boost::beast::http;

// How often requests waiting for a connection are checked against their time.
constexpr auto kSweepEvery = std::chrono::milliseconds(100);
constexpr std::uint32_t kMaxHeaderBytes = 64 * 1024;

SteadyTime Now() { return std::chrono::steady_clock::now(); }

bool HasHeader(const PlainHttpRequest& request, std::string_view name) {
  for (const auto& [key, value] : request.headers) {
    if (EqualsIgnoringAsciiCase(key, name)) return true;
  }
  return false;
}

// The request as it goes on the wire.
std::string Encode(const PlainHttpRequest& request, bool keep_alive) {
  std::string wire;
  wire.reserve(256 + request.body.size());
  wire += request.method;
  wire += ' ';
  wire += request.target;
  wire += " HTTP/1.1\r\n";
  if (!HasHeader(request, "Host")) {
    wire += "Host: ";
    wire += request.host.find(':') != std::string::npos ? "[" + request.host + "]" : request.host;
    if (request.port != 80) wire += ":" + std::to_string(request.port);
    wire += "\r\n";
  }
  if (!HasHeader(request, "Accept")) wire += "Accept: */*\r\n";
  for (const auto& [name, value] : request.headers) {
    wire += name;
    wire += ": ";
    wire += value;
    wire += "\r\n";
  }
  const bool carries_body = !request.body.empty() || request.method == "POST" ||
                            request.method == "PUT" || request.method == "PATCH";
  if (carries_body && !HasHeader(request, "Content-Length")) {
    wire += "Content-Length: " + std::to_string(request.body.size()) + "\r\n";
  }
  if (!keep_alive) wire += "Connection: close\r\n";
  wire += "\r\n";
  wire += request.body;
  return wire;
}

}  // namespace

// Everything below runs on the loop thread; the counter is read from anywhere.
struct PlainHttpClient::Core : std::enable_shared_from_this<Core> {
  using Parser = http::response_parser<http::string_body>;

  struct Exchange {
    PlainHttpRequest request;
    Done done;
    std::string origin;    // "host:port"
    bool retried = false;  // once more on a new connection after a kept one closed
    bool connected = false;
    bool reused = false;  // on a kept connection
    std::unique_ptr<Parser> parser;
    std::string unparsed;  // bytes read and not consumed by the parser yet
    bool got_bytes = false;
  };
  using Stream = std::shared_ptr<LoopStream>;
  struct IdleConnection {
    Stream stream;
    SteadyTime since;
  };

  struct Origin {
    size_t open = 0;                  // connections open or opening
    std::deque<IdleConnection> idle;  // oldest first
    std::deque<std::unique_ptr<Exchange>> waiting;
  };

  Core(OutboundLoop& l, PlainHttpClientOptions o) : loop(l), options(o), resolver(l) {}

  void Admit(std::unique_ptr<Exchange> exchange) {
    if (stopped) return Fail(std::move(exchange), ShuttingDown());
    if (exchange->request.until <= Now()) return Fail(std::move(exchange), WaitedTooLong());
    Origin& origin = origins[exchange->origin];
    origins_held.store(origins.size(), std::memory_order_relaxed);
    while (!origin.idle.empty()) {
      Stream stream = std::move(origin.idle.back().stream);
      origin.idle.pop_back();
      if (!stream->PeerSpokeWhileIdle()) return Run(std::move(stream), std::move(exchange), true);
      Closed(origin);
    }
    if (MayOpen(origin)) return Open(origin, std::move(exchange));
    origin.waiting.push_back(std::move(exchange));
    ++waiting;
    ArmSweep();
  }

  // Whether `origin` may open a connection now: under its bound, and under the total bound, or
  // once an idle connection of another origin is closed to make room.
  bool MayOpen(Origin& origin) {
    if (origin.open >= options.max_connections_per_host) return false;
    if (!AtTotalBound()) return true;
    for (auto& [key, other] : origins) {
      if (other.idle.empty()) continue;
      other.idle.front().stream->Abort();
      other.idle.pop_front();
      Closed(other);
      return true;
    }
    return false;
  }

  void Open(Origin& origin, std::unique_ptr<Exchange> exchange) {
    ++origin.open;
    ++total_open;
    const PlainHttpRequest& request = exchange->request;
    SteadyTime connect_until = std::min(request.connect_until, request.until);
    Exchange* raw = exchange.release();
    resolver.Resolve(
        request.host, request.port, connect_until,
        [self = shared_from_this(), raw,
         connect_until](StatusOr<std::vector<SocketAddress>> addresses) {
          std::unique_ptr<Exchange> owned(raw);
          if (self->stopped || !addresses.ok()) {
            const std::string key = owned->origin;
            self->Closed(self->origins[key]);
            self->Fail(std::move(owned), self->stopped ? ShuttingDown() : addresses.status());
            return self->StartWaiting(key);
          }
          auto stream = std::make_shared<LoopStream>(self->loop);
          self->busy.insert(stream.get());
          Exchange* again = owned.release();
          stream->Connect(*std::move(addresses), connect_until,
                          [self, stream, again](Status connected) {
                            std::unique_ptr<Exchange> owned(again);
                            if (self->stopped || !connected.ok()) {
                              std::string key = owned->origin;
                              self->Drop(stream, self->origins[key]);
                              self->Fail(std::move(owned),
                                         self->stopped ? ShuttingDown() : std::move(connected));
                              return self->StartWaiting(key);
                            }
                            owned->connected = true;
                            self->busy.erase(stream.get());
                            self->Run(stream, std::move(owned), false);
                          });
        });
  }

  void Run(Stream stream, std::unique_ptr<Exchange> exchange, bool reused) {
    busy.insert(stream.get());
    exchange->connected = true;
    exchange->reused = reused;
    exchange->got_bytes = false;
    exchange->unparsed.clear();
    exchange->parser = NewParser(*exchange);
    std::string wire = Encode(exchange->request, options.keep_alive);
    Exchange* raw = exchange.release();
    stream->Write(std::move(wire), raw->request.until,
                  [self = shared_from_this(), stream, raw](Status written) {
                    std::unique_ptr<Exchange> owned(raw);
                    if (self->stopped || !written.ok()) {
                      return self->Broken(stream, std::move(owned), std::move(written));
                    }
                    self->Read(stream, std::move(owned));
                  });
  }

  std::unique_ptr<Parser> NewParser(const Exchange& exchange) {
    auto parser = std::make_unique<Parser>();
    parser->header_limit(kMaxHeaderBytes);
    parser->body_limit(static_cast<std::uint64_t>(std::max(0LL, exchange.request.max_body_bytes)));
    // Not eager until the header is done: Beast 1.74 loses the body_limit error of a
    // Content-Length that is over the limit when it goes on to the body in the same call.
    parser->eager(false);
    if (exchange.request.method == "HEAD") parser->skip(true);
    return parser;
  }

  void Read(const Stream& stream, std::unique_ptr<Exchange> exchange) {
    Exchange* raw = exchange.release();
    stream->Read(raw->request.until,
                 [self = shared_from_this(), stream, raw](StatusOr<std::string_view> bytes) {
                   std::unique_ptr<Exchange> owned(raw);
                   if (self->stopped) return self->Broken(stream, std::move(owned), ShuttingDown());
                   if (!bytes.ok()) return self->Ended(stream, std::move(owned), bytes.status());
                   owned->got_bytes = true;
                   self->Parse(stream, std::move(owned), *bytes);
                 });
  }

  void Parse(const Stream& stream, std::unique_ptr<Exchange> exchange, std::string_view bytes) {
    std::string& unparsed = exchange->unparsed;
    unparsed.append(bytes);
    size_t offset = 0;
    for (;;) {
      boost::beast::error_code error;
      Parser& parser = *exchange->parser;
      const size_t used = parser.put(
          boost::asio::buffer(unparsed.data() + offset, unparsed.size() - offset), error);
      offset += used;
      if (error == http::error::need_more) break;
      if (!error && parser.is_header_done()) parser.eager(true);
      if (error == http::error::body_limit) {
        const std::string key = exchange->origin;
        Drop(stream, origins[key]);
        PlainHttpResult result;
        result.connected = true;
        result.too_large = true;
        result.error = FailedPreconditionError("the response body is larger than the limit");
        Finish(std::move(exchange), std::move(result));
        return StartWaiting(key);
      }
      if (error) {
        return Broken(stream, std::move(exchange),
                      UnavailableError("the server sent a malformed response: " + error.message()));
      }
      if (parser.is_done()) {
        if (parser.get().result_int() / 100 == 1) {  // interim: the final response follows
          exchange->parser = NewParser(*exchange);
          continue;
        }
        const bool leftover = offset < unparsed.size();
        unparsed.clear();
        return Complete(stream, std::move(exchange), !leftover);
      }
      if (used == 0) break;
    }
    unparsed.erase(0, offset);
    Read(stream, std::move(exchange));
  }

  // The connection ended (closed, broke, timed out) while reading.
  void Ended(const Stream& stream, std::unique_ptr<Exchange> exchange, Status status) {
    if (status.code() == StatusCode::kUnavailable && exchange->parser->is_header_done()) {
      boost::beast::error_code error;
      exchange->parser->put_eof(error);  // a body that ends with the connection
      if (!error && exchange->parser->is_done()) {
        return Complete(stream, std::move(exchange), /*reusable_framing=*/false);
      }
      status =
          UnavailableError("the server closed the connection before the response was complete");
    }
    Broken(stream, std::move(exchange), std::move(status));
  }

  void Broken(const Stream& stream, std::unique_ptr<Exchange> exchange, Status status) {
    const std::string key = exchange->origin;
    Drop(stream, origins[key]);
    if (stopped) status = ShuttingDown();
    // A kept connection the server closed while the request was on its way: once more, on a
    // new connection.
    if (!stopped && exchange->reused && !exchange->got_bytes && !exchange->retried &&
        status.code() == StatusCode::kUnavailable) {
      exchange->retried = true;
      exchange->connected = false;
      Origin& origin = origins[key];
      if (MayOpen(origin)) return Open(origin, std::move(exchange));
      origin.waiting.push_front(std::move(exchange));
      ++waiting;
      return ArmSweep();
    }
    Fail(std::move(exchange), std::move(status));
    StartWaiting(key);
  }

  void Complete(const Stream& stream, std::unique_ptr<Exchange> exchange, bool reusable_framing) {
    Parser& parser = *exchange->parser;
    PlainHttpResult result;
    result.connected = true;
    result.status = static_cast<int>(parser.get().result_int());
    for (const auto& field : parser.get()) {
      const auto name = field.name_string();
      const auto value = field.value();
      result.headers.emplace_back(AsciiLower(std::string_view(name.data(), name.size())),
                                  std::string(value.data(), value.size()));
    }
    const bool reusable = reusable_framing && options.keep_alive && parser.get().keep_alive();
    result.body = std::move(parser.get().body());
    const std::string key = exchange->origin;
    exchange->parser.reset();
    Finish(std::move(exchange), std::move(result));
    Origin& origin = origins[key];
    busy.erase(stream.get());
    if (!reusable || stopped || origin.idle.size() >= options.max_idle_per_origin) {
      stream->Abort();
      Closed(origin);
      return StartWaiting(key);
    }
    std::unique_ptr<Exchange> next = NextWaiting(origin);
    if (next) return Run(stream, std::move(next), true);
    if (waiting > 0 && AtTotalBound()) {  // others wait for the total bound: make room
      stream->Abort();
      Closed(origin);
      return StartWaiting(key);
    }
    origin.idle.push_back({stream, Now()});
    ArmIdleSweep(Now() + options.idle_timeout);
  }

  // A connection of `key` closed: opens connections for its waiting requests while under the
  // bounds, and for those of other origins that waited for the total bound; then forgets `key`
  // if nothing of it is left.
  void StartWaiting(const std::string& key) {
    auto found = origins.find(key);
    if (found == origins.end()) return;
    StartWaitingOf(found->second);
    if (waiting > 0 && options.max_total_connections != 0) {
      for (auto& [other_key, other] : origins) {
        if (AtTotalBound()) break;
        if (!other.waiting.empty()) StartWaitingOf(other);
      }
    }
    if (Unused(found->second)) origins.erase(found);
    origins_held.store(origins.size(), std::memory_order_relaxed);
  }

  bool AtTotalBound() const {
    return options.max_total_connections != 0 && total_open >= options.max_total_connections;
  }

  // An origin with no connection and no request: its entry goes, so that calling many hosts
  // once each (a webhook fan-out) does not keep an entry per host.
  static bool Unused(const Origin& origin) {
    return origin.open == 0 && origin.idle.empty() && origin.waiting.empty();
  }

  void StartWaitingOf(Origin& origin) {
    while (!stopped && !origin.waiting.empty() && MayOpen(origin)) {
      std::unique_ptr<Exchange> next = NextWaiting(origin);
      if (!next) return;
      Open(origin, std::move(next));
    }
  }

  std::unique_ptr<Exchange> NextWaiting(Origin& origin) {
    while (!origin.waiting.empty()) {
      std::unique_ptr<Exchange> next = std::move(origin.waiting.front());
      origin.waiting.pop_front();
      --waiting;
      if (next->request.until > Now()) return next;
      FailWaiting(std::move(next));
    }
    return nullptr;
  }

  void Drop(const Stream& stream, Origin& origin) {
    busy.erase(stream.get());
    stream->Abort();
    Closed(origin);
  }

  void Closed(Origin& origin) {
    --origin.open;
    --total_open;
  }

  void Fail(std::unique_ptr<Exchange> exchange, Status status) {
    PlainHttpResult result;
    result.connected = exchange->connected;
    result.stopped = stopped;
    result.error = std::move(status);
    Finish(std::move(exchange), std::move(result));
  }

  // A request whose time ran out while it waited for a free connection.
  void FailWaiting(std::unique_ptr<Exchange> exchange) {
    PlainHttpResult result;
    result.waited_for_connection = true;
    result.error = WaitedTooLong();
    Finish(std::move(exchange), std::move(result));
  }

  void Finish(std::unique_ptr<Exchange> exchange, PlainHttpResult result) {
    Done done = std::move(exchange->done);
    exchange.reset();
    in_flight.fetch_sub(1, std::memory_order_relaxed);
    done(std::move(result));
  }

  void ArmSweep() {
    if (sweep_armed) return;
    sweep_armed = true;
    loop.RunAt(Now() + kSweepEvery, [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->Sweep();
    });
  }

  void ArmIdleSweep(SteadyTime when) {
    if (idle_sweep_armed) return;
    idle_sweep_armed = true;
    loop.RunAt(when, [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->SweepIdle();
    });
  }

  // Closes the connections idle for idle_timeout or longer.
  void SweepIdle() {
    idle_sweep_armed = false;
    if (stopped) return;
    const SteadyTime now = Now();
    std::optional<SteadyTime> next;
    for (auto it = origins.begin(); it != origins.end();) {
      Origin& origin = it->second;
      while (!origin.idle.empty() && origin.idle.front().since + options.idle_timeout <= now) {
        origin.idle.front().stream->Abort();
        origin.idle.pop_front();
        Closed(origin);
      }
      if (!origin.idle.empty()) {
        const SteadyTime due = origin.idle.front().since + options.idle_timeout;
        next = next ? std::min(*next, due) : due;
      }
      it = Unused(origin) ? origins.erase(it) : std::next(it);
    }
    origins_held.store(origins.size(), std::memory_order_relaxed);
    if (next) ArmIdleSweep(*next);
  }

  // Ends the waiting requests whose time ran out.
  void Sweep() {
    sweep_armed = false;
    const SteadyTime now = Now();
    bool any_waiting = false;
    for (auto& [key, origin] : origins) {
      std::deque<std::unique_ptr<Exchange>> kept;
      std::vector<std::unique_ptr<Exchange>> expired;
      for (auto& exchange : origin.waiting) {
        if (exchange->request.until <= now) {
          expired.push_back(std::move(exchange));
        } else {
          kept.push_back(std::move(exchange));
        }
      }
      origin.waiting.swap(kept);
      waiting -= expired.size();
      any_waiting = any_waiting || !origin.waiting.empty();
      for (auto& exchange : expired) FailWaiting(std::move(exchange));
    }
    if (any_waiting) ArmSweep();
  }

  // The loop stops or the client goes away.
  void Shutdown() {
    if (stopped) return;
    stopped = true;
    for (auto& [key, origin] : origins) {
      for (IdleConnection& idle : origin.idle) idle.stream->Abort();
      origin.idle.clear();
      std::deque<std::unique_ptr<Exchange>> queued;
      queued.swap(origin.waiting);
      waiting -= queued.size();
      for (auto& exchange : queued) Fail(std::move(exchange), ShuttingDown());
    }
    // Connections in flight end their request with an error, which becomes ShuttingDown.
    std::vector<LoopStream*> in_use(busy.begin(), busy.end());
    for (LoopStream* stream : in_use) stream->Abort();
  }

  static Status ShuttingDown() { return UnavailableError("the service is shutting down"); }
  static Status WaitedTooLong() {
    return DeadlineExceededError("timed out waiting for a free connection");
  }

  OutboundLoop& loop;
  const PlainHttpClientOptions options;
  HostResolver resolver;
  std::unordered_map<std::string, Origin> origins;
  std::unordered_set<LoopStream*> busy;  // connecting, writing or reading; owned by callbacks
  size_t total_open = 0;                 // connections open or opening, all origins
  size_t waiting = 0;                    // requests waiting for a connection, all origins
  bool stopped = false;
  bool sweep_armed = false;
  bool idle_sweep_armed = false;
  std::atomic<long long> in_flight{0};
  std::atomic<size_t> origins_held{0};
};

PlainHttpClient::PlainHttpClient(OutboundLoop& loop, PlainHttpClientOptions options)
    : core_(std::make_shared<Core>(loop, options)) {
  loop.OnStop([weak = std::weak_ptr<Core>(core_)] {
    if (auto core = weak.lock()) core->Shutdown();
  });
}

PlainHttpClient::~PlainHttpClient() {
  core_->loop.Post([core = core_] { core->Shutdown(); });
}

void PlainHttpClient::Send(PlainHttpRequest request, Done done) {
  auto exchange = std::make_unique<Core::Exchange>();
  exchange->origin = request.host + ":" + std::to_string(request.port);
  exchange->request = std::move(request);
  exchange->done = std::move(done);
  core_->in_flight.fetch_add(1, std::memory_order_relaxed);
  core_->loop.Post([core = core_, raw = exchange.release()] {
    core->Admit(std::unique_ptr<Core::Exchange>(raw));
  });
}

long long PlainHttpClient::in_flight() const {
  return core_->in_flight.load(std::memory_order_relaxed);
}

size_t PlainHttpClient::origins_held() const {
  return core_->origins_held.load(std::memory_order_relaxed);
}

}  // namespace flowrun
