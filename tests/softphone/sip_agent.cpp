// hush-sip-agent: a SIP softphone on liblinphone (the library inside Linphone's apps), set up
// the way a Linphone user sets up an account: a TURN server, username and password in the
// account's NAT policy, ICE on, ZRTP mandatory. It places or answers one audio call, keeps it
// up for a while, and prints what the softphone itself reports: call state, media encryption,
// the ZRTP short authentication string, and its RTP packet counters.
//
// This is the softphone's own engine, not an imitation of one: ICE, TURN, ZRTP and SRTP are
// liblinphone's, mediastreamer2's and bzrtp's code. This file only fills in the settings a user
// would type and reads back what the user would see.
//
//   hush-sip-agent --sip-port 5060 --identity sip:me@host --turn HOST:PORT
//                  --turn-transport udp|tcp|tls --turn-user NAME --turn-password PASS
//                  [--root-ca FILE] [--call sip:user@host:port] --play FILE.wav --seconds N
//
// The caller hangs up N seconds after the media started; the callee answers and waits for
// the BYE. HUSH_SIP_AGENT_DEBUG=1 in the environment turns liblinphone's full log on.
//
// Output (stdout, one "key=value" per line at the end): state, encryption, sas, sas_verified,
// rtp_sent, rtp_received, ice_state.
#include <linphone/core.h>
#include <linphone/factory.h>
#include <linphone/logging.h>
#include <ortp/rtp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <thread>

namespace {

struct Agent {
  bool answered = false;
  bool ended = false;
  bool errored = false;
  bool streams_running = false;
  std::string encryption = "none";
  std::string sas;
  bool sas_verified = false;
  unsigned long long rtp_sent = 0;
  unsigned long long rtp_received = 0;
  std::string ice_state = "none";
};

Agent agent;

const char* encryption_name(LinphoneMediaEncryption e) {
  switch (e) {
    case LinphoneMediaEncryptionZRTP: return "zrtp";
    case LinphoneMediaEncryptionSRTP: return "srtp";
    case LinphoneMediaEncryptionDTLS: return "dtls";
    default: return "none";
  }
}

const char* ice_name(LinphoneIceState s) {
  switch (s) {
    case LinphoneIceStateRelayConnection: return "relay";
    case LinphoneIceStateHostConnection: return "host";
    case LinphoneIceStateReflexiveConnection: return "reflexive";
    case LinphoneIceStateFailed: return "failed";
    case LinphoneIceStateInProgress: return "in_progress";
    default: return "none";
  }
}

void on_call_state(LinphoneCore*, LinphoneCall* call, LinphoneCallState state, const char*) {
  switch (state) {
    case LinphoneCallStateIncomingReceived: linphone_call_accept(call); break;
    case LinphoneCallStateStreamsRunning:
      agent.answered = true;
      agent.streams_running = true;
      break;
    case LinphoneCallStateError: agent.errored = true; agent.ended = true; break;
    case LinphoneCallStateEnd:
    case LinphoneCallStateReleased: agent.ended = true; break;
    default: break;
  }
}

bool core_on = false;

void on_global_state(LinphoneCore*, LinphoneGlobalState state, const char*) {
  if (state == LinphoneGlobalOn) core_on = true;
}

void on_encryption_changed(LinphoneCore*, LinphoneCall* call, bool_t on, const char* token) {
  agent.encryption = on ? encryption_name(linphone_call_params_get_media_encryption(linphone_call_get_current_params(call)))
                        : "none";
  if (token != nullptr) agent.sas = token;
}

// What the user's screen shows while the call is up; read at every iteration so that the
// last values before hang-up are kept.
void sample(LinphoneCall* call) {
  if (call == nullptr) return;
  if (const char* token = linphone_call_get_authentication_token(call)) agent.sas = token;
  agent.sas_verified = linphone_call_get_authentication_token_verified(call);
  if (LinphoneCallStats* stats = linphone_call_get_audio_stats(call)) {
    if (const rtp_stats_t* rtp = linphone_call_stats_get_rtp_stats(stats)) {
      agent.rtp_sent = rtp->packet_sent;
      agent.rtp_received = rtp->packet_recv;
    }
    agent.ice_state = ice_name(linphone_call_stats_get_ice_state(stats));
    linphone_call_stats_unref(stats);
  }
}

int usage(const char* why) {
  std::fprintf(stderr, "hush-sip-agent: %s\n", why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> opt{{"--sip-port", "5060"}, {"--turn-transport", "udp"}, {"--seconds", "8"}};
  for (int i = 1; i + 1 < argc; i += 2) opt[argv[i]] = argv[i + 1];
  if (argc % 2 == 0) return usage("options come in pairs: --name value");
  for (const char* required : {"--turn", "--turn-user", "--turn-password", "--play"})
    if (opt.count(required) == 0) return usage((std::string("missing ") + required).c_str());
  const int seconds = std::atoi(opt["--seconds"].c_str());
  const std::string transport = opt["--turn-transport"];

  // liblinphone keeps its call history in $HOME/.local/share/linphone and does not reach its
  // "on" state without it.
  if (const char* home = std::getenv("HOME")) std::filesystem::create_directories(std::string(home) + "/.local/share/linphone");
  LinphoneFactory* factory = linphone_factory_get();
  linphone_logging_service_set_log_level(linphone_logging_service_get(), std::getenv("HUSH_SIP_AGENT_DEBUG") ? LinphoneLogLevelMessage : LinphoneLogLevelWarning);
  LinphoneCoreCbs* cbs = linphone_factory_create_core_cbs(factory);
  linphone_core_cbs_set_call_state_changed(cbs, on_call_state);
  linphone_core_cbs_set_call_encryption_changed(cbs, on_encryption_changed);
  linphone_core_cbs_set_global_state_changed(cbs, on_global_state);
  LinphoneCore* core = linphone_factory_create_core_3(factory, nullptr, nullptr, nullptr);
  linphone_core_add_callbacks(core, cbs);

  // SIP over UDP on the given port; media from a file (no sound card in a test namespace): a
  // softphone's microphone is a file here, everything after it is as on a desk.
  LinphoneTransports* transports = linphone_factory_create_transports(factory);
  linphone_transports_set_udp_port(transports, std::atoi(opt["--sip-port"].c_str()));
  linphone_transports_set_tcp_port(transports, 0);
  linphone_transports_set_tls_port(transports, 0);
  linphone_core_set_transports(core, transports);
  linphone_core_set_use_files(core, TRUE);
  linphone_core_set_play_file(core, opt["--play"].c_str());
  linphone_core_enable_video_capture(core, FALSE);
  linphone_core_enable_video_display(core, FALSE);
  if (opt.count("--root-ca")) linphone_core_set_root_ca(core, opt["--root-ca"].c_str());

  // ZRTP, and nothing less: a call that cannot agree ZRTP keys does not start.
  linphone_core_set_media_encryption(core, LinphoneMediaEncryptionZRTP);
  linphone_core_set_media_encryption_mandatory(core, TRUE);

  // The account's NAT policy, as in Linphone's settings: ICE, TURN server, TURN username; the
  // password is an auth info for that username.
  LinphoneNatPolicy* nat = linphone_core_create_nat_policy(core);
  linphone_nat_policy_enable_ice(nat, TRUE);
  linphone_nat_policy_enable_turn(nat, TRUE);
  linphone_nat_policy_enable_stun(nat, TRUE);
  linphone_nat_policy_set_stun_server(nat, opt["--turn"].c_str());
  linphone_nat_policy_set_stun_server_username(nat, opt["--turn-user"].c_str());
  linphone_nat_policy_enable_udp_turn_transport(nat, transport == "udp");
  linphone_nat_policy_enable_tcp_turn_transport(nat, transport == "tcp");
  linphone_nat_policy_enable_tls_turn_transport(nat, transport == "tls");
  linphone_core_set_nat_policy(core, nat);

  LinphoneAuthInfo* auth = linphone_factory_create_auth_info(factory, opt["--turn-user"].c_str(), nullptr,
                                                             opt["--turn-password"].c_str(), nullptr, nullptr, nullptr);
  linphone_core_add_auth_info(core, auth);

  // An account that never registers: liblinphone looks TURN credentials up through the
  // default account's NAT policy.
  LinphoneProxyConfig* account = linphone_core_create_proxy_config(core);
  const std::string identity = opt.count("--identity") ? opt["--identity"] : "sip:agent@127.0.0.1:" + opt["--sip-port"];
  LinphoneAddress* identity_address = linphone_factory_create_address(factory, identity.c_str());
  linphone_proxy_config_set_identity_address(account, identity_address);
  linphone_proxy_config_set_server_addr(account, identity.c_str());
  linphone_proxy_config_enable_register(account, FALSE);
  linphone_proxy_config_set_nat_policy(account, nat);
  linphone_core_add_proxy_config(core, account);
  linphone_core_set_default_proxy_config(core, account);

  linphone_core_start(core);
  for (int i = 0; i < 1000 && !core_on; ++i) {
    linphone_core_iterate(core);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!core_on) return usage("liblinphone did not start");
  // A softphone resolves its TURN server's name in the background; a call placed before that
  // ends gathers no relay candidate. Wait for it as a user would wait for the account's dot.
  linphone_nat_policy_resolve_stun_server(nat);
  for (int i = 0; i < 1000 && linphone_nat_policy_get_stun_server_addrinfo(nat) == nullptr; ++i) {
    linphone_core_iterate(core);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (linphone_nat_policy_get_stun_server_addrinfo(nat) == nullptr) return usage("the TURN server's name did not resolve");
  std::printf("ready\n");
  std::fflush(stdout);

  LinphoneCall* call = nullptr;
  if (opt.count("--call")) {
    call = linphone_core_invite(core, opt["--call"].c_str());
    if (call == nullptr) return usage("the call could not be placed");
    linphone_call_ref(call);
  }

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto give_up = start + std::chrono::seconds(seconds + 30);
  Clock::time_point hang_up{};
  while (!agent.ended && Clock::now() < give_up) {
    linphone_core_iterate(core);
    if (call == nullptr && linphone_core_get_current_call(core) != nullptr) {
      call = linphone_core_get_current_call(core);
      linphone_call_ref(call);
    }
    if (call != nullptr && agent.streams_running) sample(call);
    // The caller hangs up `seconds` after the media started; the callee waits for the BYE.
    if (opt.count("--call") && agent.streams_running && hang_up == Clock::time_point{})
      hang_up = Clock::now() + std::chrono::seconds(seconds);
    if (hang_up != Clock::time_point{} && Clock::now() >= hang_up) {
      linphone_call_terminate(call);
      hang_up = Clock::time_point::max();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Let the BYE and its answer go out.
  for (int i = 0; i < 50; ++i) {
    linphone_core_iterate(core);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  std::printf("state=%s\nencryption=%s\nsas=%s\nsas_verified=%d\nrtp_sent=%llu\nrtp_received=%llu\nice_state=%s\n",
              agent.errored ? "error" : agent.answered ? "answered" : "unanswered", agent.encryption.c_str(),
              agent.sas.c_str(), agent.sas_verified ? 1 : 0, agent.rtp_sent, agent.rtp_received,
              agent.ice_state.c_str());
  std::fflush(stdout);
  if (call != nullptr) linphone_call_unref(call);
  linphone_address_unref(identity_address);
  linphone_proxy_config_unref(account);
  linphone_auth_info_unref(auth);
  linphone_nat_policy_unref(nat);
  linphone_transports_unref(transports);
  linphone_core_stop(core);
  linphone_core_unref(core);
  linphone_core_cbs_unref(cbs);
  return agent.answered && !agent.errored ? 0 : 1;
}
