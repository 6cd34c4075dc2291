// Deletes what one user sent among the latest 1000 messages of a group, from C++17:
// the handle lives in a std::unique_ptr, and a failed call throws.
//
//   export PKG_CONFIG_PATH=PREFIX/lib/pkgconfig          # unless timrest is in a system prefix
//   libdir="$(pkg-config --variable=libdir timrest)"
//   c++ -std=c++17 delete_by_sender.cpp $(pkg-config --cflags --libs timrest) -Wl,-rpath,"$libdir" -o delete_by_sender
//   export TIM_SDKAPPID=1400000000 TIM_SECRET_KEY=...   # and TIM_BASE_URL for the emulator
//   ./delete_by_sender release-team spammer42
//
// Settings come from TIM_SDKAPPID, TIM_SECRET_KEY (or TIM_USERSIG), TIM_IDENTIFIER, TIM_REGION or
// TIM_BASE_URL (the address `timrest-emulator` prints, to try it without an account).
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <timrest.h>

namespace tim {

// A failed call: the status says what to do; code and random are for logs and Tencent support.
class Error : public std::runtime_error {
public:
    Error(timrest_status status, const timrest_error *err)
        : std::runtime_error(err ? timrest_error_message(err) : timrest_status_name(status)),
          status_(status), code_(timrest_error_code(err)), random_(timrest_error_random(err)),
          retryable_(timrest_error_retryable(err)) {}

    timrest_status status() const noexcept { return status_; }
    std::int64_t code() const noexcept { return code_; }      // TIM ErrorCode, 0 if none
    std::int64_t random() const noexcept { return random_; }  // -1 if nothing was sent
    bool retryable() const noexcept { return retryable_; }

private:
    timrest_status status_;
    std::int64_t code_;
    std::int64_t random_;
    bool retryable_;
};

// Turns a status into an exception; frees the error object either way. Call it on its own line,
// after the call: in `check(f(&err), err)` the second argument may be read before f writes it.
inline void check(timrest_status status, timrest_error *err) {
    std::unique_ptr<timrest_error, decltype(&timrest_error_free)> owned(err, &timrest_error_free);
    if (status != TIMREST_OK) {
        throw Error(status, owned.get());
    }
}

// Thread safe: share one Client between all threads (it is movable, not copyable).
class Client {
public:
    static Client from_env() {
        timrest_client *raw = nullptr;
        timrest_error *err = nullptr;
        const timrest_status status = timrest_client_from_env(&raw, &err);
        check(status, err);
        return Client(raw);
    }

    void delete_group_msg_by_sender(const std::string &group_id, const std::string &sender,
                                    const std::optional<std::string> &topic_id = std::nullopt) const {
        timrest_error *err = nullptr;
        const timrest_status status = timrest_delete_group_msg_by_sender(
            handle_.get(), group_id.c_str(), sender.c_str(), topic_id ? topic_id->c_str() : nullptr, &err);
        check(status, err);
    }

private:
    struct Free {
        void operator()(timrest_client *client) const noexcept { timrest_client_free(client); }
    };
    explicit Client(timrest_client *raw) : handle_(raw) {}
    std::unique_ptr<timrest_client, Free> handle_;
};

}  // namespace tim

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        std::fprintf(stderr, "usage: %s GROUP_ID SENDER [TOPIC_ID]\n", argv[0]);
        return 2;
    }
    try {
        const tim::Client client = tim::Client::from_env();
        std::optional<std::string> topic;
        if (argc == 4) {
            topic = argv[3];
        }
        client.delete_group_msg_by_sender(argv[1], argv[2], topic);
        std::printf("deleted the messages of %s in %s\n", argv[2], argv[1]);
        return 0;
    } catch (const tim::Error &e) {
        std::fprintf(stderr, "failed: %s (status %s, code %lld, random %lld, retryable %s)\n", e.what(),
                     timrest_status_name(e.status()), static_cast<long long>(e.code()),
                     static_cast<long long>(e.random()), e.retryable() ? "yes" : "no");
        return 1;
    }
}
