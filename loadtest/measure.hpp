// What hush-loadgen and hush-streamgen measure besides their own packets: the server's CPU and
// memory, drops at UDP sockets, and busy time of cores or of the machine, from /proc.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <utility>

namespace hush::loadtest {

using Clock = std::chrono::steady_clock;

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// CPU seconds of another process (utime + stime) from /proc/PID/stat.
inline double process_cpu_seconds(int pid) {
  if (pid <= 0) return 0;
  FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (f == nullptr) return 0;
  char buf[1024];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  const char* p = std::strrchr(buf, ')');  // the command name may contain spaces
  if (p == nullptr) return 0;
  unsigned long utime = 0, stime = 0;
  // Fields after ')': state(3) ... utime(14) stime(15).
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return 0;
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

inline long process_rss_kib(int pid) {
  if (pid <= 0) return 0;
  FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/status").c_str(), "r");
  if (f == nullptr) return 0;
  char line[256];
  long kib = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmRSS: %ld", &kib) == 1) break;
  std::fclose(f);
  return kib;
}

// Datagrams that the UDP sockets of process `pid` (0: this one) dropped because their receive
// buffer was full, summed from the drops column of /proc/PID/net/udp and udp6 (the process's
// own network namespace) over the socket inodes its descriptors hold. Where a loss happened:
// at the server's sockets, or at the generator's own, which means the generator fell behind.
inline std::uint64_t socket_drops(int pid) {
  namespace fs = std::filesystem;
  const std::string proc = pid > 0 ? "/proc/" + std::to_string(pid) : std::string("/proc/self");
  std::set<std::uint64_t> inodes;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(proc + "/fd", ec)) {
    const std::string link = fs::read_symlink(e.path(), ec).string();
    if (!ec && link.rfind("socket:[", 0) == 0) inodes.insert(std::strtoull(link.c_str() + 8, nullptr, 10));
  }
  std::uint64_t drops = 0;
  for (const char* table : {"/net/udp", "/net/udp6"}) {
    FILE* f = std::fopen((proc + table).c_str(), "r");
    if (f == nullptr) continue;
    char line[512];
    bool header = true;  // the first line names the columns
    while (std::fgets(line, sizeof line, f)) {
      if (std::exchange(header, false)) continue;
      // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
      unsigned long long inode = 0, dropped = 0;
      if (std::sscanf(line, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %*s %*s %llu", &inode, &dropped) == 2 &&
          inodes.count(inode) != 0)
        drops += dropped;
    }
    std::fclose(f);
  }
  return drops;
}

// Busy CPU seconds from /proc/stat: of the whole machine (cpu = -1; kernel work on loopback is
// charged unevenly to processes, so this is the honest total) or of one core. Busy is the
// elapsed time less idle, iowait and steal, not the sum of the busy columns: without IRQ time
// accounting those are sampled at the tick, and an idle core has no tick, so interrupt and
// softirq work done on an otherwise idle core (where RPS and the kernel fast path run) would
// go missing from them. Idle time itself is measured exactly.
class BusyClock {
 public:
  explicit BusyClock(int cpu) : cpu_(cpu) { sample(t0_, idle0_, n_); }
  double seconds() const {
    double t = 0, idle = 0;
    unsigned n = 0;
    if (!sample(t, idle, n) || n != n_ || n_ == 0) return 0;
    return std::max(0.0, (t - t0_) * n_ - (idle - idle0_));
  }

 private:
  bool sample(double& t, double& idle, unsigned& n) const {
    FILE* f = std::fopen("/proc/stat", "r");
    if (f == nullptr) return false;
    t = std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
    const std::string want = cpu_ < 0 ? "cpu " : "cpu" + std::to_string(cpu_) + " ";
    char line[512];
    n = 0;
    bool found = false;
    while (std::fgets(line, sizeof line, f)) {
      if (cpu_ < 0 && std::strncmp(line, "cpu", 3) == 0 && line[3] >= '0' && line[3] <= '9') ++n;
      if (std::strncmp(line, want.c_str(), want.size()) != 0) continue;
      unsigned long long v[8] = {};
      found = std::sscanf(line + want.size(), "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                          &v[4], &v[5], &v[6], &v[7]) == 8;
      // Not running: idle, iowait, and steal (the hypervisor ran something else).
      idle = static_cast<double>(v[3] + v[4] + v[7]) / static_cast<double>(::sysconf(_SC_CLK_TCK));
    }
    std::fclose(f);
    if (cpu_ >= 0) n = 1;
    return found;
  }

  int cpu_;
  double t0_ = 0, idle0_ = 0;
  unsigned n_ = 0;
};

inline double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}


}  // namespace hush::loadtest
