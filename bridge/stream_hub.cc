#include "bridge/stream_hub.h"

#include <vector>

namespace propmon::bridge {

StreamHub::StreamHub(const Options& options) : options_(options) {}

StreamHub::~StreamHub() { Shutdown(); }

void StreamHub::Publish(std::string_view event, std::string_view task_id,
                        std::string_view proplet_id, std::string_view data) {
  if (!HasClients()) return;
  std::string frame;
  bool notify = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& c : list_) {
      if (c->task_id && *c->task_id != task_id) continue;
      if (c->proplet_id && *c->proplet_id != proplet_id) continue;
      if (c->queue.size() >= options_.max_queued_events) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (frame.empty()) {
        frame.reserve(event.size() + data.size() + 16);
        frame.append("event: ");
        frame.append(event);
        frame.append("\ndata: ");
        frame.append(data);
        frame.append("\n\n");
      }
      c->queue.push_back(frame);
      notify = true;
    }
  }
  if (notify) cv_.notify_all();
}

void StreamHub::Serve(const HttpRequest& req, HttpStream& stream) {
  auto client = std::make_shared<Client>();
  client->task_id = req.QueryParam("task_id");
  client->proplet_id = req.QueryParam("proplet_id");
  if (client->task_id && client->task_id->empty()) client->task_id.reset();
  if (client->proplet_id && client->proplet_id->empty()) {
    client->proplet_id.reset();
  }
  std::list<std::shared_ptr<Client>>::iterator self;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_ || list_.size() >= options_.max_clients) {
      (void)stream.Write(
          "event: error\ndata: {\"error\":\"too many stream clients\"}\n\n");
      return;
    }
    list_.push_back(client);
    self = std::prev(list_.end());
    clients_.store(list_.size());
  }
  bool ok = stream.Write(": connected\n\n");
  std::vector<std::string> batch;
  while (ok && !stream.Stopping()) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      // Wake at least once a second to notice a stopping server.
      auto wait = std::min<std::chrono::milliseconds>(
          options_.keepalive, std::chrono::milliseconds(1000));
      auto deadline = std::chrono::steady_clock::now() + options_.keepalive;
      while (client->queue.empty() && !shutdown_ && !stream.Stopping() &&
             std::chrono::steady_clock::now() < deadline) {
        cv_.wait_for(lock, wait);
      }
      if (shutdown_) break;
      batch.assign(std::make_move_iterator(client->queue.begin()),
                   std::make_move_iterator(client->queue.end()));
      client->queue.clear();
    }
    if (batch.empty()) {
      ok = stream.Write(": keepalive\n\n");
      continue;
    }
    for (const std::string& f : batch) {
      ok = stream.Write(f);
      if (!ok) break;
      sent_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  list_.erase(self);
  clients_.store(list_.size());
}

void StreamHub::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_ = true;
  }
  cv_.notify_all();
}

}  // namespace propmon::bridge
