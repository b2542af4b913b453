// JsonWriter must write exactly what nlohmann's dump (through json_text) writes for the same
// document: the answers it renders were nlohmann documents before, and clients, transcripts and
// caches see the bytes. Strings are the risky part (escapes, UTF-8 that is not valid), so they
// are compared on arbitrary bytes; the structure on random string lists and maps.
#include "core/node/json_writer.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace praetor::node {
namespace {

using nlohmann::json;

std::string written(const std::string& s) {
  JsonWriter w;
  w.value(s);
  return w.take();
}

TEST(JsonWriter, EscapesAsNlohmann) {
  const std::vector<std::string> cases = {"",
                                          "plain",
                                          "quote\"back\\slash",
                                          "\b\t\n\f\r",
                                          std::string("nul\0x", 5),
                                          "\x01\x1f\x7f",
                                          "caf\xc3\xa9",
                                          "\xe2\x82\xac euro",
                                          "\xf0\x9f\x98\x80",
                                          "bad \xff byte",
                                          "\xc3",
                                          "\xc3(",
                                          "\xe2\x82",
                                          "\xed\xa0\x80 surrogate",
                                          "\xc0\xaf overlong",
                                          "\xf4\x90\x80\x80 above",
                                          "/"};
  for (const auto& s : cases) EXPECT_EQ(written(s), json_text(json(s))) << s;
}

RC_GTEST_PROP(JsonWriter, StringsAsNlohmann, (const std::string& s)) {
  RC_ASSERT(written(s) == json_text(json(s)));
}

RC_GTEST_PROP(JsonWriter, ListsAndMapsAsNlohmann,
              (const std::vector<std::string>& list, const std::map<std::string, std::string>& map,
               std::uint64_t n, bool b)) {
  JsonWriter w;
  w.begin_array();
  w.begin_object();
  w.key("A").value(list);
  w.key("B").value(map);
  w.key("C").value(n);
  w.key("D").value(b);
  w.key("E").begin_object();
  for (const auto& [k, v] : map) w.data_key(k).value(v);
  w.end_object();
  w.key("F").begin_array();
  w.end_array();
  w.end_object();
  w.value(list);
  w.end_array();
  const json expected = json::array({json{{"A", json(list)},
                                          {"B", map.empty() ? json::object() : json(map)},
                                          {"C", n},
                                          {"D", b},
                                          {"E", map.empty() ? json::object() : json(map)},
                                          {"F", json::array()}},
                                     json(list)});
  RC_ASSERT(w.take() == json_text(expected));
}

}  // namespace
}  // namespace praetor::node
