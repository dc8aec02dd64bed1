// hush-fingerprint: does padding, smoothing and cover hide what was said from an observer of
// the encrypted relay-to-client leg? Three steps, run by loadtest/fingerprint/run.sh:
//
//   encode    WAV files (espeak-ng, PHRASE_VARIANT.wav) -> Opus packet traces (20 ms frames,
//             VBR with or without DTX, or CBR), each in a fixed window with silence around it.
//   replay    each trace through a real relay: a UDP peer sends SRTP-sized packets at the
//             trace's times to the relayed address of a DTLS client; what the client's socket
//             receives is what an observer of that leg sees: datagram sizes and arrival times.
//   classify  leave-one-variant-out phrase identification from those observations (1-nearest
//             neighbour over a time profile and a size histogram), against chance.
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <opus/opus.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "hush/auth/rest_credential.hpp"
#include "hush/net/udp_socket.hpp"
#include "hush/stun/builder.hpp"
#include "hush/stun/integrity.hpp"
#include "hush/stun/message.hpp"

using namespace hush;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kRate = 16000;           // Opus wideband, as VoIP uses
constexpr int kFrame = kRate / 50;     // 20 ms
constexpr int kLeadMs = 500;           // silence before the phrase
constexpr std::size_t kSrtpOverhead = 12 + 10;  // RTP header, SRTP authentication tag

struct Packet {
  int t_ms;
  int size;
};
// An utterance as sent (a trace: media_bytes is what the peer sends) or as observed (packets
// are what arrived on the client's socket); one line each in the files between the steps.
struct Utterance {
  std::string phrase, variant;
  std::size_t media_bytes = 0;
  std::vector<Packet> packets;
};
using Trace = Utterance;
using Observation = Utterance;

// ---- encode -------------------------------------------------------------------------------

std::vector<float> read_wav(const std::string& path, int& rate) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> d((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto u32 = [&](std::size_t at) { std::uint32_t v; std::memcpy(&v, d.data() + at, 4); return v; };
  auto u16 = [&](std::size_t at) { std::uint16_t v; std::memcpy(&v, d.data() + at, 2); return v; };
  if (d.size() < 12 || std::memcmp(d.data(), "RIFF", 4) != 0) throw std::runtime_error(path + ": not a WAV file");
  std::vector<float> out;
  int channels = 1;
  for (std::size_t at = 12; at + 8 <= d.size();) {
    const std::uint32_t len = u32(at + 4);
    if (std::memcmp(d.data() + at, "fmt ", 4) == 0) {
      channels = u16(at + 10);
      rate = static_cast<int>(u32(at + 12));
    } else if (std::memcmp(d.data() + at, "data", 4) == 0) {
      const std::size_t n = std::min<std::size_t>(len, d.size() - at - 8) / 2;
      for (std::size_t i = 0; i < n; i += static_cast<std::size_t>(channels)) {
        std::int16_t s;
        std::memcpy(&s, d.data() + at + 8 + 2 * i, 2);
        out.push_back(static_cast<float>(s) / 32768.f);
      }
    }
    at += 8 + len + (len & 1);
  }
  return out;
}

Trace encode(const std::string& wav, const std::string& mode, int window_ms) {
  int rate = 0;
  const auto in = read_wav(wav, rate);
  // Linear resampling to 16 kHz, inside a window of silence.
  std::vector<float> pcm(static_cast<std::size_t>(window_ms) * kRate / 1000, 0.f);
  const std::size_t lead = static_cast<std::size_t>(kLeadMs) * kRate / 1000;
  for (std::size_t i = 0; lead + i < pcm.size(); ++i) {
    const double src = static_cast<double>(i) * rate / kRate;
    const auto j = static_cast<std::size_t>(src);
    if (j + 1 >= in.size()) break;
    const double frac = src - static_cast<double>(j);
    pcm[lead + i] = static_cast<float>(in[j] * (1 - frac) + in[j + 1] * frac);
  }
  int err = 0;
  OpusEncoder* enc = opus_encoder_create(kRate, 1, OPUS_APPLICATION_VOIP, &err);
  if (err != OPUS_OK) throw std::runtime_error("opus_encoder_create");
  opus_encoder_ctl(enc, OPUS_SET_BITRATE(24000));
  opus_encoder_ctl(enc, OPUS_SET_VBR(mode == "cbr" ? 0 : 1));
  opus_encoder_ctl(enc, OPUS_SET_DTX(mode == "vbr-dtx" ? 1 : 0));
  Trace t;
  const auto name = std::filesystem::path(wav).stem().string();
  t.phrase = name.substr(0, name.find('_'));
  t.variant = name.substr(name.find('_') + 1);
  unsigned char out[1500];
  for (std::size_t at = 0; at + kFrame <= pcm.size(); at += kFrame) {
    const int n = opus_encode_float(enc, pcm.data() + at, kFrame, out, sizeof out);
    if (n < 0) throw std::runtime_error("opus_encode");
    if (n <= 2) continue;  // DTX: nothing to transmit (RFC 7587 §3.1.4)
    t.packets.push_back(Packet{static_cast<int>(at * 1000 / kRate), n + static_cast<int>(kSrtpOverhead)});
    t.media_bytes += static_cast<std::size_t>(n) + kSrtpOverhead;
  }
  opus_encoder_destroy(enc);
  return t;
}

void write_utterances(std::ostream& o, const std::vector<Utterance>& all) {
  for (const auto& u : all) {
    o << u.phrase << ' ' << u.variant << ' ' << u.media_bytes << ' ' << u.packets.size();
    for (const auto& p : u.packets) o << ' ' << p.t_ms << ':' << p.size;
    o << '\n';
  }
}

std::vector<Utterance> read_utterances(const std::string& path) {
  std::ifstream f(path);
  std::vector<Utterance> out;
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream s(line);
    Utterance u;
    std::size_t n = 0;
    s >> u.phrase >> u.variant >> u.media_bytes >> n;
    for (std::size_t i = 0; i < n; ++i) {
      Packet p{};
      char colon;
      s >> p.t_ms >> colon >> p.size;
      u.packets.push_back(p);
    }
    out.push_back(std::move(u));
  }
  return out;
}

// ---- replay -------------------------------------------------------------------------------

// A TURN client over DTLS on a connected UDP socket; after set-up, its socket is read raw (the
// observer's view) and never decrypted.
class DtlsTurn {
 public:
  DtlsTurn(SSL_CTX* ctx, const Endpoint& relay) {
    fd_ = ::socket(relay.ip.is_v4() ? AF_INET : AF_INET6, SOCK_DGRAM, 0);
    sockaddr_storage ss{};
    const socklen_t len = net::to_sockaddr(relay, ss);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0) throw std::runtime_error("connect");
    timeval tv{2, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssl_ = SSL_new(ctx);
    BIO* bio = BIO_new_dgram(fd_, BIO_NOCLOSE);
    BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, &ss);
    SSL_set_bio(ssl_, bio, bio);
  }
  ~DtlsTurn() {
    SSL_shutdown(ssl_);
    SSL_free(ssl_);
    ::close(fd_);
  }
  int fd() const { return fd_; }
  bool setup(const std::string& user, const std::string& password, const Endpoint& peer, Endpoint& relayed) {
    if (SSL_connect(ssl_) != 1) return false;
    auto transport = [](stun::MessageBuilder& b) { b.add_u32(stun::attr::requested_transport, 17u << 24); };
    auto first = transact(stun::Method::allocate, transport);
    if (!first) return false;
    auto m = stun::MessageView::parse(*first);
    if (!m || !m->find_text(stun::attr::realm) || !m->find_text(stun::attr::nonce)) return false;
    user_ = user;
    realm_ = std::string(*m->find_text(stun::attr::realm));
    nonce_ = std::string(*m->find_text(stun::attr::nonce));
    key_ = stun::long_term_key(user, realm_, password);
    auto r = transact(stun::Method::allocate, transport, true);
    if (!r) return false;
    m = stun::MessageView::parse(*r);
    if (!m || m->has(stun::attr::error_code)) return false;
    relayed = *stun::decode_xor_address(*m->find(stun::attr::xor_relayed_address), m->transaction_id_ptr());
    auto c = transact(stun::Method::channel_bind, [&](stun::MessageBuilder& b) {
      b.add_u32(stun::attr::channel_number, 0x40000000u);
      b.add_xor_address(stun::attr::xor_peer_address, peer);
    }, true);
    return c && !stun::MessageView::parse(*c)->has(stun::attr::error_code);
  }

 private:
  std::optional<std::vector<std::byte>> transact(stun::Method method, const std::function<void(stun::MessageBuilder&)>& f,
                                                 bool authenticated = false) {
    std::vector<std::byte> buf(2048);
    stun::TransactionId tid;
    RAND_bytes(reinterpret_cast<unsigned char*>(tid.data()), static_cast<int>(tid.size()));
    stun::MessageBuilder b(buf, method, stun::Class::request, tid.data());
    f(b);
    if (authenticated) {
      b.add_text(stun::attr::username, user_);
      b.add_text(stun::attr::realm, realm_);
      b.add_text(stun::attr::nonce, nonce_);
      b.add_integrity(key_);
    }
    auto msg = b.finish();
    if (!msg) return std::nullopt;
    SSL_write(ssl_, msg->data(), static_cast<int>(msg->size()));
    for (int i = 0; i < 50; ++i) {  // past cover ChannelData, to the answer
      std::vector<std::byte> in(65536);
      const int n = SSL_read(ssl_, in.data(), static_cast<int>(in.size()));
      if (n <= 0) return std::nullopt;
      in.resize(static_cast<std::size_t>(n));
      if (std::to_integer<unsigned>(in[0]) < 0x40) return in;
    }
    return std::nullopt;
  }

  int fd_;
  SSL* ssl_;
  std::string user_, realm_, nonce_;
  std::array<std::byte, 16> key_{};
};

// The peer: a UDP socket on 127.0.0.1.
class PeerSocket {
 public:
  PeerSocket() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_storage ss{};
    const socklen_t len = net::to_sockaddr(*Endpoint::parse("127.0.0.1:0"), ss);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&ss), len);
  }
  ~PeerSocket() { ::close(fd_); }
  Endpoint local() const { return net::local_endpoint(fd_); }
  void send_to(const Endpoint& to, Bytes b) {
    sockaddr_storage ss{};
    const socklen_t len = net::to_sockaddr(to, ss);
    (void)!::sendto(fd_, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&ss), len);
  }

 private:
  int fd_;
};


std::vector<Observation> replay(std::vector<Trace> traces, const Endpoint& relay, const std::string& secret,
                                std::size_t parallel, int window_ms) {
  // Utterances that share a batch share its start and the relay's state (with --smoothing, the
  // phase of its release ticks against the batch's start). In file order a batch would hold
  // five phrases' every variant, and the observer could name a phrase by its batch; shuffled
  // (with a fixed seed, so runs repeat), a batch says nothing about the phrase.
  std::shuffle(traces.begin(), traces.end(), std::mt19937(7));
  SSL_CTX* ctx = SSL_CTX_new(DTLS_client_method());
  std::vector<Observation> all;
  for (std::size_t first = 0; first < traces.size(); first += parallel) {
    const std::size_t n = std::min(parallel, traces.size() - first);
    std::vector<std::unique_ptr<DtlsTurn>> clients;
    std::vector<std::unique_ptr<PeerSocket>> peers;
    std::vector<Endpoint> relayed(n);
    const std::string user = std::to_string(std::time(nullptr) + 3600) + ":fingerprint";
    const std::string password = auth::rest_password(secret, user);
    for (std::size_t i = 0; i < n; ++i) {
      peers.push_back(std::make_unique<PeerSocket>());
      clients.push_back(std::make_unique<DtlsTurn>(ctx, relay));
      if (!clients.back()->setup(user, password, peers.back()->local(), relayed[i]))
        throw std::runtime_error("DTLS allocation through the relay failed");
    }
    // Drain what arrived during set-up (cover), then observe one window.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (auto& c : clients) {
      char junk[65536];
      while (::recv(c->fd(), junk, sizeof junk, MSG_DONTWAIT) > 0) {
      }
    }
    std::vector<Observation> obs(n);
    struct Event {
      int t_ms;
      std::size_t client;
      int size;
    };
    std::vector<Event> events;
    for (std::size_t i = 0; i < n; ++i) {
      obs[i].phrase = traces[first + i].phrase;
      obs[i].variant = traces[first + i].variant;
      obs[i].media_bytes = traces[first + i].media_bytes;
      for (const auto& p : traces[first + i].packets) {
        events.push_back(Event{p.t_ms, i, p.size});
      }
    }
    std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.t_ms < b.t_ms; });
    const auto t0 = Clock::now() + std::chrono::milliseconds(50);
    std::thread sender([&] {
      std::mt19937 rng(1);
      std::vector<std::byte> payload(1500);
      for (auto& b : payload) b = static_cast<std::byte>(rng());
      for (const auto& e : events) {
        std::this_thread::sleep_until(t0 + std::chrono::milliseconds(e.t_ms));
        peers[e.client]->send_to(relayed[e.client], {payload.data(), static_cast<std::size_t>(e.size)});
      }
    });
    std::vector<pollfd> fds;
    for (auto& c : clients) fds.push_back(pollfd{c->fd(), POLLIN, 0});
    const auto end = t0 + std::chrono::milliseconds(window_ms + 200);
    char buf[65536];
    while (Clock::now() < end) {
      if (::poll(fds.data(), fds.size(), 10) <= 0) continue;
      const auto now = Clock::now();
      for (std::size_t i = 0; i < n; ++i) {
        if (!(fds[i].revents & POLLIN)) continue;
        ssize_t got;
        while ((got = ::recv(fds[i].fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
          const int at = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(now - t0).count());
          if (at >= 0 && at < window_ms) obs[i].packets.push_back(Packet{at, static_cast<int>(got)});
        }
      }
    }
    sender.join();
    for (auto& o : obs) all.push_back(std::move(o));
  }
  SSL_CTX_free(ctx);
  return all;
}

// ---- classify -----------------------------------------------------------------------------

std::vector<double> features(const Observation& o, int window_ms) {
  // Bytes per 100 ms over the window, and a histogram of datagram sizes (16-byte bins), each
  // normalised so that neither dominates by scale alone.
  const std::size_t bins = static_cast<std::size_t>(window_ms / 100);
  std::vector<double> time(bins, 0), size(64, 0);
  for (const auto& p : o.packets) {
    time[std::min(bins - 1, static_cast<std::size_t>(p.t_ms / 100))] += p.size;
    size[std::min<std::size_t>(63, static_cast<std::size_t>(p.size / 16))] += 1;
  }
  double tsum = 0, ssum = 0;
  for (double v : time) tsum += v;
  for (double v : size) ssum += v;
  std::vector<double> f;
  for (double v : time) f.push_back(tsum > 0 ? v / tsum : 0);
  for (double v : size) f.push_back(ssum > 0 ? v / ssum : 0);
  f.push_back(tsum / 1e5);  // total bytes, mildly weighted
  return f;
}

double classify(const std::vector<Observation>& obs, int window_ms) {
  std::vector<std::vector<double>> f;
  for (const auto& o : obs) f.push_back(features(o, window_ms));
  int right = 0, total = 0;
  for (std::size_t i = 0; i < obs.size(); ++i) {
    double best = 1e300;
    std::vector<std::size_t> best_at;
    for (std::size_t j = 0; j < obs.size(); ++j) {
      if (obs[j].variant == obs[i].variant) continue;  // leave this variant out
      double d = 0;
      for (std::size_t k = 0; k < f[i].size(); ++k) d += std::abs(f[i][k] - f[j][k]);
      if (d < best - 1e-12) {
        best = d;
        best_at = {j};
      } else if (std::abs(d - best) <= 1e-12) {
        best_at.push_back(j);
      }
    }
    // Ties (identical observations) are broken at random, so indistinguishable traffic scores
    // chance rather than the luck of the order.
    static std::mt19937 rng(42);
    const std::size_t pick = best_at[rng() % best_at.size()];
    right += obs[pick].phrase == obs[i].phrase;
    ++total;
  }
  return total ? static_cast<double>(right) / total : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hush-fingerprint: phrase identification from what an observer of the relay-to-client leg sees"};
  app.require_subcommand(1);
  int window_ms = 4000;
  auto* enc = app.add_subcommand("encode", "WAV files -> Opus packet traces");
  std::string wav_dir, mode = "vbr-dtx", out_path;
  enc->add_option("--wav-dir", wav_dir)->required();
  enc->add_option("--mode", mode)->check(CLI::IsMember({"vbr", "vbr-dtx", "cbr"}));
  enc->add_option("--out", out_path)->required();
  enc->add_option("--window-ms", window_ms);
  auto* rep = app.add_subcommand("replay", "traces through a relay over DTLS -> observations");
  std::string traces_path, relay_at, secret_file;
  std::size_t parallel = 50;
  rep->add_option("--traces", traces_path)->required();
  rep->add_option("--relay", relay_at, "the relay's DTLS address, IP:PORT")->required();
  rep->add_option("--secret-file", secret_file)->required();
  rep->add_option("--parallel", parallel);
  rep->add_option("--out", out_path)->required();
  rep->add_option("--window-ms", window_ms);
  auto* cls = app.add_subcommand("classify", "observations -> accuracy, chance, bytes on the wire");
  std::string obs_path;
  cls->add_option("--observations", obs_path)->required();
  cls->add_option("--window-ms", window_ms);
  CLI11_PARSE(app, argc, argv);

  try {
    if (*enc) {
      std::vector<Trace> traces;
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::directory_iterator(wav_dir))
        if (e.path().extension() == ".wav") files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) traces.push_back(encode(f.string(), mode, window_ms));
      std::ofstream o(out_path);
      write_utterances(o, traces);
      std::cerr << "encoded " << traces.size() << " utterances (" << mode << ")\n";
    } else if (*rep) {
      std::ifstream sf(secret_file);
      std::string secret;
      std::getline(sf, secret);
      const auto relay = Endpoint::parse(relay_at);
      if (!relay) throw std::runtime_error("--relay: expected IP:PORT");
      auto obs = replay(read_utterances(traces_path), *relay, secret, parallel, window_ms);
      std::ofstream o(out_path);
      write_utterances(o, obs);
    } else {
      const auto obs = read_utterances(obs_path);
      std::map<std::string, int> phrases;
      std::size_t wire = 0, sent = 0;
      for (const auto& o : obs) {
        ++phrases[o.phrase];
        sent += o.media_bytes;
        for (const auto& p : o.packets) wire += static_cast<std::size_t>(p.size);
      }
      const double acc = classify(obs, window_ms);
      std::printf("accuracy %.3f chance %.3f utterances %zu wire_bytes %zu media_bytes %zu\n", acc,
                  phrases.empty() ? 0.0 : 1.0 / static_cast<double>(phrases.size()), obs.size(), wire, sent);
    }
  } catch (const std::exception& e) {
    std::cerr << "hush-fingerprint: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
