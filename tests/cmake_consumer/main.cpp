// The C++17 consumer of tests/cmake_consumer: deletes what argv[2] posted in group argv[1],
// reports the call info, then runs a small batch through timrest_delete_many.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <timrest.h>

namespace {

struct ClientDeleter {
    void operator()(timrest_client *c) const noexcept { timrest_client_free(c); }
};
struct ErrorDeleter {
    void operator()(timrest_error *e) const noexcept { timrest_error_free(e); }
};
using Client = std::unique_ptr<timrest_client, ClientDeleter>;
using Error = std::unique_ptr<timrest_error, ErrorDeleter>;

int count_results(void *userdata, const timrest_item_result *result) {
    auto *seen = static_cast<std::vector<int> *>(userdata);
    seen->push_back(static_cast<int>(result->status));
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: consumer GROUP SENDER\n");
        return 2;
    }
    std::printf("timrest %s (header %s)\n", timrest_version(), TIMREST_VERSION);
    timrest_client *raw = nullptr;
    timrest_error *err_raw = nullptr;
    if (timrest_client_from_env(&raw, &err_raw) != TIMREST_OK) {
        Error err(err_raw);
        std::fprintf(stderr, "client: %s\n", timrest_error_message(err.get()));
        return 2;
    }
    Client client(raw);

    timrest_call_info info{};
    info.size = sizeof info;
    if (timrest_delete_by_sender(client.get(), argv[1], argv[2], nullptr, &info, &err_raw) != TIMREST_OK) {
        Error err(err_raw);
        std::fprintf(stderr, "delete: %s\n", timrest_error_message(err.get()));
        return 1;
    }
    std::printf("deleted: random=%u attempts=%u\n", info.random, info.attempts);

    const std::string missing = "cmake-no-such-group";
    std::vector<timrest_item> items{{argv[1], argv[2], nullptr}, {missing.c_str(), argv[2], nullptr}};
    std::vector<int> statuses;
    timrest_batch_report report{};
    report.size = sizeof report;
    if (timrest_delete_many(client.get(), items.data(), items.size(), nullptr, count_results, &statuses, &report,
                            nullptr) != TIMREST_OK) {
        return 1;
    }
    std::printf("batch: ok=%zu failed=%zu callbacks=%zu\n", report.ok, report.failed, statuses.size());
    return 0;
}
