// MqttClient authentication and TLS against the real mosquitto: password
// file users, wrong passwords, certificates made by openssl (CA only, client
// certificate required, untrusted CA, wrong host name, insecure switch).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "common/mqtt_client.h"
#include "tests/common/mqtt_test_util.h"
#include "tests/testutil/testutil.h"

namespace propmon::mqtt_test {
namespace {

class MqttAuthTest : public testing::TestWithParam<int> {};

TEST_P(MqttAuthTest, PasswordWorksAndWrongPasswordStaysDisconnected) {
  const int version = GetParam();
  testutil::TempDir tmp;
  const std::string pwfile = tmp.File("passwd");
  ASSERT_EQ(std::system(("mosquitto_passwd -b -c " + pwfile +
                         " propmon s3cret >/dev/null 2>&1")
                            .c_str()),
            0);
  Broker broker("allow_anonymous false\npassword_file " + pwfile + "\n");
  ASSERT_TRUE(broker.Start());

  MqttOptions good = Options(broker.Url(), "auth");
  good.mqtt_version = version;
  good.username = "propmon";
  good.password = "s3cret";
  Inbox inbox;
  auto c = Subscriber(good, {"auth/#"}, 1, &inbox);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Publish("auth/x", "hello").ok());
  ASSERT_TRUE(inbox.WaitFor(1));

  MqttOptions bad = good;
  bad.client_id = UniqueId("auth-bad");
  bad.password = "wrong";
  testing::internal::CaptureStderr();
  auto wrong = MustCreate(bad);
  ASSERT_TRUE(wrong);
  ASSERT_TRUE(wrong->Start().ok());
  ASSERT_TRUE(wrong->Publish("auth/x", "never").ok());
  // Keeps retrying (several refusals), never connects, never crashes.
  const bool retried = WaitUntil(
      [&] { return wrong->stats().connect_failures_total >= 2; }, seconds(15));
  MqttStats ws = wrong->stats();
  wrong->Stop();
  const std::string log = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(retried) << ws.last_error;
  EXPECT_FALSE(ws.connected);
  EXPECT_EQ(ws.published_total, 0u);
  if (version == 5) {
    // mosquitto answers MQTT 5 with 0x86 "Bad user name or password" or
    // 0x87 "Not authorized".
    EXPECT_TRUE(ws.last_error.find("reason code 134") != std::string::npos ||
                ws.last_error.find("reason code 135") != std::string::npos)
        << ws.last_error;
  } else {
    EXPECT_TRUE(ws.last_error.find("CONNACK return code 5 (not authorized)") !=
                    std::string::npos ||
                ws.last_error.find(
                    "CONNACK return code 4 (bad user name or password)") !=
                    std::string::npos)
        << ws.last_error;
  }
  // Rate-limited: at most one "connect ... failed" line for several
  // refusals (none if an earlier test in this process used the 30 s slot).
  size_t lines = 0;
  for (size_t pos = log.find("failed: broker refused");
       pos != std::string::npos;
       pos = log.find("failed: broker refused", pos + 1)) {
    ++lines;
  }
  EXPECT_LE(lines, 1u) << log;
  EXPECT_EQ(inbox.size(), 1u);
  EXPECT_TRUE(c->stats().connected);
}

INSTANTIATE_TEST_SUITE_P(Versions, MqttAuthTest, testing::Values(3, 5),
                         [](const testing::TestParamInfo<int>& info) {
                           return "Mqtt" + std::to_string(info.param);
                         });

TEST(MqttTlsTest, ConnectsWithCaFileAndRejectsUnknownCa) {
  testutil::TempDir tmp;
  Pki pki(tmp);
  ASSERT_TRUE(pki.ok);
  const int port2 = testutil::FreePort();
  Broker broker(pki.Listener(false) + pki.WrongHostListener(port2), false,
                port2);
  ASSERT_TRUE(broker.Start());

  MqttOptions o = Options(broker.Url("mqtts"), "tls");
  o.ca_file = pki.d + "ca.crt";
  Inbox inbox;
  auto c = Subscriber(o, {"tls/#"}, 1, &inbox);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Publish("tls/x", "secret").ok());
  ASSERT_TRUE(inbox.WaitFor(1));
  EXPECT_EQ(inbox.payloads(), std::vector<std::string>{"secret"});

  // Signed by a CA we do not trust: refused, with the reason visible.
  MqttOptions wrong_ca = o;
  wrong_ca.client_id = UniqueId("tls-wrong-ca");
  wrong_ca.url = broker.Url("ssl");
  wrong_ca.ca_file = pki.d + "other.crt";
  auto bad = MustCreate(wrong_ca);
  ASSERT_TRUE(bad);
  ASSERT_TRUE(bad->Start().ok());
  // Waits for the explanation rather than the first failure: on a loaded
  // machine an attempt may fail before the handshake gets that far.
  const std::string unknown_ca =
      "we aborted the handshake (alert \"unknown CA\"): the broker's "
      "certificate is not signed by ca_file";
  WaitUntil(
      [&] {
        return bad->stats().last_error.find(unknown_ca) != std::string::npos;
      },
      seconds(10));
  MqttStats bs = bad->stats();
  bad->Stop();
  EXPECT_FALSE(bs.connected);
  EXPECT_GE(bs.connect_failures_total, 1u);
  EXPECT_NE(bs.last_error.find(unknown_ca), std::string::npos) << bs.last_error;

  // Trusted CA, but the certificate on the second listener names another
  // host.
  MqttOptions mismatch = o;
  mismatch.client_id = UniqueId("tls-mismatch");
  mismatch.url = "ssl://127.0.0.1:" + std::to_string(broker.port2());
  auto wrong_host = MustCreate(mismatch);
  ASSERT_TRUE(wrong_host);
  ASSERT_TRUE(wrong_host->Start().ok());
  const std::string mismatch_text =
      "the broker's certificate does not name host \"127.0.0.1\"";
  WaitUntil(
      [&] {
        return wrong_host->stats().last_error.find(mismatch_text) !=
               std::string::npos;
      },
      seconds(10));
  MqttStats hs = wrong_host->stats();
  wrong_host->Stop();
  EXPECT_FALSE(hs.connected);
  EXPECT_GE(hs.connect_failures_total, 1u);
  EXPECT_NE(hs.last_error.find(mismatch_text), std::string::npos)
      << hs.last_error;

  // The explicit insecure switch skips verification.
  MqttOptions insecure = wrong_ca;
  insecure.client_id = UniqueId("tls-insecure");
  insecure.ca_file.clear();
  insecure.insecure = true;
  auto lax = Connected(insecure);
  ASSERT_TRUE(lax);
}

TEST(MqttTlsTest, ClientCertificateRequiredByBroker) {
  testutil::TempDir tmp;
  Pki pki(tmp);
  ASSERT_TRUE(pki.ok);
  Broker broker(pki.Listener(true));
  ASSERT_TRUE(broker.Start());

  MqttOptions o = Options(broker.Url("ssl"), "mtls");
  o.ca_file = pki.d + "ca.crt";
  o.cert_file = pki.d + "client.crt";
  o.key_file = pki.d + "client.key";
  Inbox inbox;
  auto c = Subscriber(o, {"mtls/#"}, 1, &inbox);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Publish("mtls/x", "mutual").ok());
  ASSERT_TRUE(inbox.WaitFor(1));

  MqttOptions no_cert = o;
  no_cert.client_id = UniqueId("mtls-nocert");
  no_cert.cert_file.clear();
  no_cert.key_file.clear();
  auto bad = MustCreate(no_cert);
  ASSERT_TRUE(bad);
  ASSERT_TRUE(bad->Start().ok());
  ASSERT_TRUE(WaitUntil(
      [&] { return bad->stats().connect_failures_total >= 1; }, seconds(10)));
  MqttStats bs = bad->stats();
  bad->Stop();
  EXPECT_FALSE(bs.connected);
  // The broker's alert reaches us only if it is read before the socket
  // closes; when it is, the message points at the client certificate.
  if (bs.last_error.find("the broker aborted the handshake") !=
      std::string::npos) {
    EXPECT_NE(bs.last_error.find("client certificate"), std::string::npos)
        << bs.last_error;
  } else {
    EXPECT_NE(bs.last_error.find("TCP connect or TLS handshake failed"),
              std::string::npos)
        << bs.last_error;
  }
}

}  // namespace
}  // namespace propmon::mqtt_test
