// C++17 tests of libtimrest, driven by tests/c_abi.rs (same environment as test_timrest.c):
// the header compiles as C++ with strict flags, handles live in std::unique_ptr with custom
// deleters, statuses become exceptions, and one client is shared by 8 std::threads.
//
//   test_timrest_cpp ok        TEST_GROUP/TEST_SENDER: the deletion succeeds
//   test_timrest_cpp errors    unknown group → exception with status, code and random; bad input
//   test_timrest_cpp threads   8 threads share one client, each deletes sender spammer<i>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <timrest.h>

namespace {

int failures = 0;

void expect(bool cond, const char *what, int line) {
    if (!cond) {
        std::fprintf(stderr, "test_timrest.cpp:%d: check failed: %s\n", line, what);
        ++failures;
    }
}
#define EXPECT(cond) expect((cond), #cond, __LINE__)

std::string env(const char *name) {
    const char *value = std::getenv(name);
    if (value == nullptr) {
        std::fprintf(stderr, "environment variable %s is required\n", name);
        std::exit(2);
    }
    return value;
}

struct ConfigFree {
    void operator()(timrest_config *c) const noexcept { timrest_config_free(c); }
};
struct ClientFree {
    void operator()(timrest_client *c) const noexcept { timrest_client_free(c); }
};
struct ErrorFree {
    void operator()(timrest_error *e) const noexcept { timrest_error_free(e); }
};
using ConfigPtr = std::unique_ptr<timrest_config, ConfigFree>;
using ClientPtr = std::unique_ptr<timrest_client, ClientFree>;
using ErrorPtr = std::unique_ptr<timrest_error, ErrorFree>;

class Error : public std::runtime_error {
public:
    Error(timrest_status status, ErrorPtr err)
        : std::runtime_error(err ? timrest_error_message(err.get()) : timrest_status_name(status)),
          status_(status), detail_(std::move(err)) {}
    timrest_status status() const noexcept { return status_; }
    const timrest_error *detail() const noexcept { return detail_.get(); }

private:
    timrest_status status_;
    std::shared_ptr<timrest_error> detail_;  // exceptions are copied: share the detail
};

// Called after the call, never as check(f(&err), err): the order in which arguments are evaluated
// is unspecified, and err could be read before f wrote it.
void check(timrest_status status, timrest_error *raw) {
    ErrorPtr err(raw);
    if (status != TIMREST_OK) {
        throw Error(status, std::move(err));
    }
}

ClientPtr make_client() {
    timrest_config *raw_config = nullptr;
    check(timrest_config_new(&raw_config), nullptr);
    ConfigPtr config(raw_config);
    check(timrest_config_set_sdkappid(config.get(), std::strtoull(env("TIM_SDKAPPID").c_str(), nullptr, 10)),
          nullptr);
    check(timrest_config_set_secret_key(config.get(), env("TIM_SECRET_KEY").c_str()), nullptr);
    check(timrest_config_set_base_url(config.get(), env("TIM_BASE_URL").c_str()), nullptr);
    check(timrest_config_set_no_rate_limit(config.get()), nullptr);
    timrest_client *raw_client = nullptr;
    timrest_error *err = nullptr;
    const timrest_status status = timrest_client_new(config.get(), &raw_client, &err);
    check(status, err);
    return ClientPtr(raw_client);
}

void delete_by_sender(const timrest_client *client, const std::string &group, const std::string &sender) {
    timrest_error *err = nullptr;
    const timrest_status status = timrest_delete_group_msg_by_sender(client, group.c_str(), sender.c_str(), nullptr, &err);
    check(status, err);
}

void case_ok() {
    ClientPtr client = make_client();
    delete_by_sender(client.get(), env("TEST_GROUP"), env("TEST_SENDER"));
}

void case_errors() {
    ClientPtr client = make_client();
    try {
        delete_by_sender(client.get(), "@TGS#NOSUCHGROUP", "leckie");
        EXPECT(false && "no exception");
    } catch (const Error &e) {
        EXPECT(e.status() == TIMREST_GROUP_NOT_FOUND);
        EXPECT(timrest_error_code(e.detail()) == 10010);
        EXPECT(timrest_error_random(e.detail()) >= 0);
        EXPECT(timrest_error_attempts(e.detail()) == 1);
        EXPECT(std::strstr(e.what(), "10010") != nullptr);
        std::printf("random=%lld attempts=%u\n", static_cast<long long>(timrest_error_random(e.detail())),
                    timrest_error_attempts(e.detail()));
    }
    try {
        delete_by_sender(client.get(), env("TEST_GROUP"), "");
        EXPECT(false && "no exception");
    } catch (const Error &e) {
        EXPECT(e.status() == TIMREST_INVALID_ARGUMENT);
        EXPECT(timrest_error_attempts(e.detail()) == 0);
    }
    EXPECT(timrest_delete_group_msg_by_sender(nullptr, "@TGS#1", "x", nullptr, nullptr) == TIMREST_NULL_ARGUMENT);
    EXPECT(timrest_delete_group_msg_by_sender(client.get(), "@TGS#1", "\xff", nullptr, nullptr) ==
           TIMREST_INVALID_UTF8);
    EXPECT(std::string(timrest_version()) == TIMREST_VERSION);
    timrest_error_free(nullptr);
    ClientPtr empty;  // a unique_ptr holding NULL: its deleter is not even called, and would be harmless
}

void case_threads() {
    std::shared_ptr<const timrest_client> client(make_client().release(), ClientFree());
    const std::string group = env("TEST_GROUP");
    std::vector<std::thread> threads;
    std::vector<int> ok(8, 0);
    for (int i = 0; i < 8; ++i) {
        threads.emplace_back([&, i] {
            try {
                delete_by_sender(client.get(), group, "spammer" + std::to_string(i));
                ok[static_cast<std::size_t>(i)] = 1;
            } catch (const Error &e) {
                std::fprintf(stderr, "thread %d: %s\n", i, e.what());
            }
        });
    }
    for (auto &t : threads) {
        t.join();
    }
    for (int i = 0; i < 8; ++i) {
        EXPECT(ok[static_cast<std::size_t>(i)] == 1);
    }
}

}  // namespace

int main(int argc, char **argv) {
    const std::string name = argc > 1 ? argv[1] : "";
    try {
        if (name == "ok") {
            case_ok();
        } else if (name == "errors") {
            case_errors();
        } else if (name == "threads") {
            case_threads();
        } else {
            std::fprintf(stderr, "usage: %s ok|errors|threads\n", argv[0]);
            return 2;
        }
    } catch (const Error &e) {
        std::fprintf(stderr, "%s: unexpected %s: %s\n", name.c_str(), timrest_status_name(e.status()), e.what());
        return 1;
    }
    if (failures > 0) {
        std::fprintf(stderr, "%s: %d check(s) failed\n", name.c_str(), failures);
        return 1;
    }
    std::printf("%s: ok\n", name.c_str());
    return 0;
}
