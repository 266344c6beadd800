// A small command-line flag parser: --name=value, --name value, boolean
// --name, and "--" ending the flags. Errors name the flag.
#ifndef PROPMON_COMMON_FLAGS_H_
#define PROPMON_COMMON_FLAGS_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace propmon {

class FlagSet {
 public:
  // Declares a flag taking a value, with its default and help text.
  void String(const std::string& name, std::string default_value,
              std::string help);
  // Declares a boolean flag (present = true).
  void Bool(const std::string& name, std::string help);

  // Parses args (without argv[0]). Positional arguments and everything
  // after "--" go to positional(). InvalidArgument on unknown flags or a
  // missing value.
  Status Parse(const std::vector<std::string>& args);

  const std::string& Get(const std::string& name) const;
  bool IsSet(const std::string& name) const { return set_.count(name) > 0; }
  bool GetBool(const std::string& name) const {
    return bools_.count(name) && set_.count(name);
  }
  const std::vector<std::string>& positional() const { return positional_; }
  // True when "--" was seen; positional() then holds what followed it too.
  bool saw_dashdash() const { return saw_dashdash_; }
  size_t dashdash_index() const { return dashdash_index_; }
  std::string Usage() const;

 private:
  std::map<std::string, std::string> values_;
  std::map<std::string, std::string> help_;
  std::set<std::string> bools_;
  std::set<std::string> set_;
  std::vector<std::string> positional_;
  bool saw_dashdash_ = false;
  size_t dashdash_index_ = 0;
};

}  // namespace propmon

#endif  // PROPMON_COMMON_FLAGS_H_
