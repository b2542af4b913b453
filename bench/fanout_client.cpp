// Blocking-query fan-out client for bench/blocking_fanout.sh (not part of the test suite).
//
// Opens N keep-alive connections to one agent, parks one long poll on each
// (GET <path>?index=I&wait=W), waits until they have settled, reads the agent's memory from
// /proc/<pid>/status, then sends one PUT on a separate connection and times every watcher's
// answer: latency = when the watcher's whole answer had arrived minus when the PUT's answer had
// arrived (and minus when the PUT was sent). Each further round re-parks every watcher that
// answered, on the same connection, with the index its answer carried, and PUTs again.
//
//   fanout_client --host IP --port P --sources "IP IP ..." --watchers N --rounds R
//                 [--path /v1/kv/watched] [--wait 5m] [--agent-pid PID] [--settle-ms MS]
//                 [--put-path PATH] [--hold-ms MS]
//
// --put-path: the key the PUT writes (default: the watched one; another key shows whether a
// write elsewhere wakes the watchers). --hold-ms: after the last round, park every watcher once
// more, print "HOLDING", keep them parked that long (for load run meanwhile by the script), then
// print "HELD answered=N" (answers that arrived while holding).
//
// Prints one "ROUND ..." line per round and a "SUMMARY ..." line; the shell script parses them.
// Only epoll and plain sockets: one thread, so the client's own cost per answer (a read and a
// small parse, about a microsecond) is the only skew it adds to the later watchers' times.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "fanout_client: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

struct Options {
  std::string host = "127.0.0.76";
  int port = 8500;
  std::vector<std::string> sources;
  int watchers = 10000;
  int rounds = 3;
  std::string path = "/v1/kv/watched";
  std::string wait = "5m";
  std::string put_path;
  int hold_ms = 0;
  int agent_pid = 0;
  int settle_ms = 3000;
  int batch = 256;  // connections opened before waiting for them to connect
};

// One HTTP/1.1 answer being read: headers, then Content-Length bytes.
struct Answer {
  std::string data;
  int status = 0;
  std::uint64_t index = 0;
  bool complete = false;

  // Feeds bytes; returns true once the answer is whole.
  bool feed(const char* p, std::size_t n) {
    data.append(p, n);
    const auto end = data.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    std::size_t length = 0;
    std::istringstream headers(data.substr(0, end));
    std::string line;
    std::getline(headers, line);
    if (line.size() >= 12) status = std::atoi(line.c_str() + 9);
    while (std::getline(headers, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      const char* value = line.c_str() + colon + 1;
      while (*value == ' ') ++value;
      if (name == "content-length") length = std::strtoull(value, nullptr, 10);
      if (name == "x-consul-index") index = std::strtoull(value, nullptr, 10);
    }
    complete = data.size() >= end + 4 + length;
    return complete;
  }
};

struct Watcher {
  int fd = -1;
  bool connected = false;
  bool closed = false;  // the agent closed it or an error happened
  bool parked = false;  // request sent, no answer yet
  std::uint64_t index = 0;
  Answer answer;
  std::int64_t answered_us = 0;
};

sockaddr_in address(const std::string& ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1) {
    std::fprintf(stderr, "fanout_client: bad address %s\n", ip.c_str());
    std::exit(2);
  }
  return a;
}

// A blocking request on the control connection (the initial GET for the index, and the PUTs).
// It is opened before the watchers and kept alive, so that it holds its slot under the agent's
// connection caps however many watchers are refused.
struct Exchange {
  Answer answer;
  std::int64_t sent_us = 0;
  std::int64_t answered_us = 0;
};

int control_connection(const Options& o) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in to = address(o.host, o.port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) die("connect (control)");
  return fd;
}

Exchange exchange(int fd, const std::string& request) {
  Exchange e;
  e.sent_us = now_us();
  std::size_t off = 0;
  while (off < request.size()) {
    const ssize_t n = ::write(fd, request.data() + off, request.size() - off);
    if (n <= 0) die("write (exchange)");
    off += static_cast<std::size_t>(n);
  }
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) die("read (exchange)");
    if (e.answer.feed(buf, static_cast<std::size_t>(n))) break;
  }
  e.answered_us = now_us();
  return e;
}

std::string get_request(const Options& o, std::uint64_t index) {
  return "GET " + o.path + "?index=" + std::to_string(index) + "&wait=" + o.wait +
         " HTTP/1.1\r\nHost: " + o.host + "\r\nUser-Agent: fanout_client\r\n\r\n";
}

std::string proc_status(int pid, const char* field) {
  if (pid <= 0) return "-";
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) {
      std::istringstream words(line.substr(std::strlen(field)));
      std::string kb;
      words >> kb;
      return kb;  // kB
    }
  }
  return "-";
}

double percentile(std::vector<std::int64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return static_cast<double>(v[std::min(rank, v.size() - 1)]);
}

bool send_all(int fd, const std::string& s) {
  // Requests are small (< 200 bytes): a fresh socket's buffer takes them whole.
  const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
  return n == static_cast<ssize_t>(s.size());
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::string v = argv[i + 1];
    if (k == "--host") o.host = v;
    else if (k == "--port") o.port = std::atoi(v.c_str());
    else if (k == "--sources") {
      std::istringstream words(v);
      std::string w;
      while (words >> w) o.sources.push_back(w);
    } else if (k == "--watchers") o.watchers = std::atoi(v.c_str());
    else if (k == "--rounds") o.rounds = std::atoi(v.c_str());
    else if (k == "--path") o.path = v;
    else if (k == "--wait") o.wait = v;
    else if (k == "--agent-pid") o.agent_pid = std::atoi(v.c_str());
    else if (k == "--settle-ms") o.settle_ms = std::atoi(v.c_str());
    else if (k == "--batch") o.batch = std::atoi(v.c_str());
    else if (k == "--put-path") o.put_path = v;
    else if (k == "--hold-ms") o.hold_ms = std::atoi(v.c_str());
    else {
      std::fprintf(stderr, "fanout_client: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (o.sources.empty()) o.sources.push_back(o.host);
  if (o.put_path.empty()) o.put_path = o.path;

  // The key's current index: every watcher waits for the next change.
  const std::string host_header = "Host: " + o.host + "\r\n";
  const int control = control_connection(o);
  Exchange first = exchange(control, "GET " + o.path + " HTTP/1.1\r\n" + host_header + "\r\n");
  std::uint64_t index = first.answer.index;
  std::printf("START watchers=%d index=%llu rss_kb_idle=%s\n", o.watchers,
              static_cast<unsigned long long>(index), proc_status(o.agent_pid, "VmRSS:").c_str());
  std::fflush(stdout);

  const int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  std::vector<Watcher> w(static_cast<std::size_t>(o.watchers));
  std::vector<epoll_event> events(4096);

  // Connect in batches (the agent's listen backlog is 511) and send each its long poll.
  const std::int64_t connect_start = now_us();
  int refused_at_connect = 0;
  for (int start = 0; start < o.watchers; start += o.batch) {
    const int end = std::min(o.watchers, start + o.batch);
    int waiting = 0;
    for (int i = start; i < end; ++i) {
      Watcher& x = w[static_cast<std::size_t>(i)];
      x.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      if (x.fd < 0) die("socket (raise ulimit -n)");
      const int one = 1;
      setsockopt(x.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      sockaddr_in from = address(o.sources[static_cast<std::size_t>(i) % o.sources.size()], 0);
      if (bind(x.fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) die("bind");
      sockaddr_in to = address(o.host, o.port);
      if (connect(x.fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 &&
          errno != EINPROGRESS) {
        die("connect");
      }
      epoll_event ev{};
      ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
      ev.data.u32 = static_cast<std::uint32_t>(i);
      if (epoll_ctl(ep, EPOLL_CTL_ADD, x.fd, &ev) != 0) die("epoll_ctl");
      ++waiting;
    }
    while (waiting > 0) {
      const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 5000);
      if (n <= 0) die("connect timeout");
      for (int k = 0; k < n; ++k) {
        Watcher& x = w[events[static_cast<std::size_t>(k)].data.u32];
        if (x.connected || x.closed) continue;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(x.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        --waiting;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.u32 = events[static_cast<std::size_t>(k)].data.u32;
        epoll_ctl(ep, EPOLL_CTL_MOD, x.fd, &ev);
        if (err != 0 || !send_all(x.fd, get_request(o, index))) {
          x.closed = true;
          ++refused_at_connect;
          continue;
        }
        x.connected = true;
        x.parked = true;
        x.index = index;
      }
    }
  }
  const std::int64_t connected_us = now_us() - connect_start;

  // Reads whatever arrives on watchers until the deadline or until `want` answers are whole;
  // returns the number of answers completed. Watchers the agent closes are counted in closed.
  auto pump = [&](std::int64_t deadline_us, int want, int& answered, int& closed) {
    char buf[16384];
    while (answered < want) {
      const std::int64_t left_ms = (deadline_us - now_us()) / 1000;
      if (left_ms <= 0) break;
      const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()),
                               static_cast<int>(std::min<std::int64_t>(left_ms, 1000)));
      if (n < 0 && errno != EINTR) die("epoll_wait");
      for (int k = 0; k < n; ++k) {
        Watcher& x = w[events[static_cast<std::size_t>(k)].data.u32];
        if (x.closed) continue;
        for (;;) {
          const ssize_t r = ::read(x.fd, buf, sizeof buf);
          if (r > 0) {
            if (x.parked && x.answer.feed(buf, static_cast<std::size_t>(r))) {
              x.answered_us = now_us();
              x.parked = false;
              ++answered;
            }
            continue;
          }
          if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
          // EOF or error: the agent closed the connection.
          x.closed = true;
          if (x.parked) {
            x.parked = false;
            ++closed;
          }
          epoll_ctl(ep, EPOLL_CTL_DEL, x.fd, nullptr);
          close(x.fd);
          break;
        }
      }
    }
  };

  std::vector<std::int64_t> totals_p99;
  int failures = 0;
  for (int round = 1; round <= o.rounds; ++round) {
    // Settle: every request has reached the agent and been parked (or refused: closed, or
    // answered early, which counts against the run).
    int early = 0;
    int closed_early = 0;
    pump(now_us() + static_cast<std::int64_t>(o.settle_ms) * 1000, o.watchers, early,
         closed_early);
    int parked = 0;
    for (const Watcher& x : w) parked += x.parked ? 1 : 0;
    const std::string rss = proc_status(o.agent_pid, "VmRSS:");
    const std::string hwm = proc_status(o.agent_pid, "VmHWM:");
    char load[64] = "-";
    if (FILE* f = std::fopen("/proc/loadavg", "r")) {
      if (!std::fgets(load, sizeof load, f)) load[0] = 0;
      std::fclose(f);
      if (char* nl = std::strchr(load, '\n')) *nl = 0;
    }

    // The write that wakes them.
    const std::string body = "round-" + std::to_string(round);
    Exchange put = exchange(control, "PUT " + o.put_path + " HTTP/1.1\r\n" + host_header +
                                         "Content-Length: " + std::to_string(body.size()) +
                                         "\r\n\r\n" + body);
    if (put.answer.status != 200) {
      std::fprintf(stderr, "fanout_client: PUT answered %d\n", put.answer.status);
      return 1;
    }
    int answered = 0;
    int closed = 0;
    pump(now_us() + 30'000'000, parked, answered, closed);
    std::vector<std::int64_t> after_answer;
    std::vector<std::int64_t> after_send;
    int wrong = 0;
    std::uint64_t new_index = 0;
    for (Watcher& x : w) {
      if (x.closed || x.answered_us == 0) continue;
      after_answer.push_back(x.answered_us - put.answered_us);
      after_send.push_back(x.answered_us - put.sent_us);
      if (x.answer.status != 200 || x.answer.index <= x.index) ++wrong;
      new_index = std::max(new_index, x.answer.index);
    }
    const int missing = parked - answered - closed;
    failures += wrong + missing + closed + early + closed_early;
    totals_p99.push_back(static_cast<std::int64_t>(percentile(after_answer, 99)));
    std::printf(
        "ROUND %d parked=%d early_answers=%d closed_before_put=%d woken=%d closed=%d "
        "missing=%d wrong=%d put_us=%lld "
        "wake_after_put_answer_us: p50=%.0f p90=%.0f p99=%.0f max=%.0f min=%.0f "
        "wake_after_put_sent_us: p50=%.0f p99=%.0f max=%.0f "
        "rss_kb=%s hwm_kb=%s load=\"%s\"\n",
        round, parked, early, closed_early, answered, closed, missing, wrong,
        static_cast<long long>(put.answered_us - put.sent_us), percentile(after_answer, 50),
        percentile(after_answer, 90), percentile(after_answer, 99), percentile(after_answer, 100),
        percentile(after_answer, 0), percentile(after_send, 50), percentile(after_send, 99),
        percentile(after_send, 100), rss.c_str(), hwm.c_str(), load);
    std::fflush(stdout);

    // Re-park every watcher that answered, on its connection, at the index it saw.
    if (round == o.rounds && o.hold_ms <= 0) break;
    for (Watcher& x : w) {
      if (x.closed || x.answered_us == 0) continue;
      x.index = x.answer.index;
      x.answer = Answer{};
      x.answered_us = 0;
      if (!send_all(x.fd, get_request(o, x.index))) {
        x.closed = true;
        continue;
      }
      x.parked = true;
    }
    (void)new_index;
  }
  if (o.hold_ms > 0) {
    int early = 0;
    int closed_early = 0;
    pump(now_us() + static_cast<std::int64_t>(o.settle_ms) * 1000, o.watchers, early,
         closed_early);
    int parked = 0;
    for (const Watcher& x : w) parked += x.parked ? 1 : 0;
    std::printf("HOLDING parked=%d rss_kb=%s\n", parked, proc_status(o.agent_pid, "VmRSS:").c_str());
    std::fflush(stdout);
    int answered = 0;
    int closed = 0;
    pump(now_us() + static_cast<std::int64_t>(o.hold_ms) * 1000, o.watchers, answered, closed);
    std::printf("HELD answered=%d closed=%d\n", answered, closed);
    std::fflush(stdout);
  }
  std::printf("SUMMARY watchers=%d refused_at_connect=%d connect_ms=%lld failures=%d "
              "rss_kb_end=%s hwm_kb_end=%s\n",
              o.watchers, refused_at_connect, static_cast<long long>(connected_us / 1000),
              failures, proc_status(o.agent_pid, "VmRSS:").c_str(),
              proc_status(o.agent_pid, "VmHWM:").c_str());
  for (Watcher& x : w) {
    if (!x.closed) close(x.fd);
  }
  return 0;
}
