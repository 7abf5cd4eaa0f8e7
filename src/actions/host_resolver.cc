#include "actions/host_resolver.h"

#include <netdb.h>

#include <algorithm>
#include <chrono>
#include <cstring>

namespace flowrun {
namespace {

using std::chrono::milliseconds;

constexpr auto kCacheFor = std::chrono::seconds(60);
constexpr milliseconds kFirstCheck{1};
constexpr milliseconds kLongestCheck{25};

std::vector<SocketAddress> AddressesOf(const addrinfo* list) {
  std::vector<SocketAddress> addresses;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    SocketAddress address;
    std::memcpy(&address.storage, ai->ai_addr, ai->ai_addrlen);
    address.length = ai->ai_addrlen;
    addresses.push_back(address);
  }
  return addresses;
}

addrinfo StreamHints(int flags) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = flags;
  return hints;
}

}  // namespace

// One name being looked up; glibc writes to `request` until gai_error stops saying in progress.
struct HostResolver::Lookup {
  std::string host;
  std::string service;
  addrinfo hints = StreamHints(AI_NUMERICSERV);
  gaicb request{};
  gaicb* list[1] = {&request};
  std::string key;
  SteadyTime until;
  milliseconds next_check = kFirstCheck;
  std::vector<Done> waiting;  // every Resolve of this key while it runs
};

struct HostResolver::State : std::enable_shared_from_this<State> {
  explicit State(OutboundLoop& l) : loop(l) {}
  ~State() {
    for (auto& [key, lookup] : running) {
      if (gai_cancel(&lookup->request) == EAI_CANCELED ||
          gai_error(&lookup->request) != EAI_INPROGRESS) {
        if (lookup->request.ar_result != nullptr) freeaddrinfo(lookup->request.ar_result);
        delete lookup;
      }
      // Otherwise glibc still owns it: left to finish (see the header).
    }
  }

  void Check(Lookup* lookup) {
    int error = gai_error(&lookup->request);
    SteadyTime now = std::chrono::steady_clock::now();
    if (error == EAI_INPROGRESS && now < lookup->until) {
      lookup->next_check = std::min(lookup->next_check * 2, kLongestCheck);
      SteadyTime when = std::min(now + lookup->next_check, lookup->until);
      loop.RunAt(when, [self = shared_from_this(), lookup] { self->Check(lookup); });
      return;
    }
    running.erase(lookup->key);
    std::vector<Done> waiting = std::move(lookup->waiting);
    StatusOr<std::vector<SocketAddress>> result = std::vector<SocketAddress>();
    if (error == EAI_INPROGRESS) {
      result = DeadlineExceededError("resolving " + lookup->host + " timed out");
      if (gai_cancel(&lookup->request) != EAI_CANCELED &&
          gai_error(&lookup->request) == EAI_INPROGRESS) {
        lookup = nullptr;  // glibc still owns it: left to finish (see the header)
      }
    } else if (error != 0) {
      result = UnavailableError("could not resolve " + lookup->host + ": " + gai_strerror(error));
    } else {
      std::vector<SocketAddress> addresses = AddressesOf(lookup->request.ar_result);
      if (addresses.empty()) {
        result = UnavailableError("could not resolve " + lookup->host + ": no address");
      } else {
        cache[lookup->key] = {addresses, now + kCacheFor};
        result = std::move(addresses);
      }
    }
    if (lookup != nullptr) {
      if (lookup->request.ar_result != nullptr) freeaddrinfo(lookup->request.ar_result);
      delete lookup;
    }
    for (Done& done : waiting) done(result);
  }

  struct Cached {
    std::vector<SocketAddress> addresses;
    SteadyTime expires;
  };

  OutboundLoop& loop;
  std::map<std::string, Lookup*> running;  // by "host:port"
  std::map<std::string, Cached> cache;
};

HostResolver::HostResolver(OutboundLoop& loop) : state_(std::make_shared<State>(loop)) {}

HostResolver::~HostResolver() = default;

void HostResolver::Resolve(const std::string& host, int port, SteadyTime until, Done done) {
  std::string service = std::to_string(port);
  std::string key = host + ":" + service;
  OutboundLoop& loop = state_->loop;
  // An IP literal needs no lookup.
  addrinfo hints = StreamHints(AI_NUMERICHOST | AI_NUMERICSERV);
  addrinfo* literal = nullptr;
  if (getaddrinfo(host.c_str(), service.c_str(), &hints, &literal) == 0) {
    std::vector<SocketAddress> addresses = AddressesOf(literal);
    freeaddrinfo(literal);
    loop.Post([done = std::move(done), addresses = std::move(addresses)] { done(addresses); });
    return;
  }
  auto cached = state_->cache.find(key);
  if (cached != state_->cache.end()) {
    if (cached->second.expires > std::chrono::steady_clock::now()) {
      loop.Post(
          [done = std::move(done), addresses = cached->second.addresses] { done(addresses); });
      return;
    }
    state_->cache.erase(cached);
  }
  auto running = state_->running.find(key);
  if (running != state_->running.end()) {
    running->second->waiting.push_back(std::move(done));
    running->second->until = std::max(running->second->until, until);
    return;
  }
  auto* lookup = new Lookup;
  lookup->host = host;
  lookup->service = service;
  lookup->key = key;
  lookup->until = until;
  lookup->request.ar_name = lookup->host.c_str();
  lookup->request.ar_service = lookup->service.c_str();
  lookup->request.ar_request = &lookup->hints;
  lookup->waiting.push_back(std::move(done));
  int error = getaddrinfo_a(GAI_NOWAIT, lookup->list, 1, nullptr);
  if (error != 0) {
    std::vector<Done> waiting = std::move(lookup->waiting);
    delete lookup;
    Status status = UnavailableError("could not resolve " + host + ": " + gai_strerror(error));
    for (Done& d : waiting) loop.Post([d = std::move(d), status] { d(status); });
    return;
  }
  state_->running[key] = lookup;
  loop.RunAt(std::chrono::steady_clock::now() + kFirstCheck,
             [self = state_, lookup] { self->Check(lookup); });
}

}  // namespace flowrun
