// Keyset pages of the model and version listings: every item once, in order, and
// inserts made between pages neither repeat nor shift what follows.
#include <gtest/gtest.h>

#include "unit/registry/registry_test_util.h"

namespace quiver::registry {
namespace {

class RegistryPagesTest : public RegistryTest {};
QUIVER_ON_BOTH_REGISTRY_BACKENDS(RegistryPagesTest);

std::vector<std::string> names(const std::vector<ModelSummary>& page) {
  std::vector<std::string> out;
  for (const auto& m : page) out.push_back(m.name);
  return out;
}

TEST_P(RegistryPagesTest, ModelPagesWalkEveryModelOnceAndAreStableUnderInserts) {
  for (const char* m : {"b", "d", "f"}) add_versions(m, 2);
  auto first = registry_->list_models_page("", 2);
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  EXPECT_EQ(names(*first), (std::vector<std::string>{"b", "d"}));
  EXPECT_EQ((*first)[0].versions, (std::vector<int64_t>{1, 2})) << "each model comes with its versions";

  add_versions("a", 1);  // before the cursor: not seen by this walk
  add_versions("e", 1);  // after it: seen
  auto second = registry_->list_models_page("d", 2);
  ASSERT_TRUE(second.is_ok());
  EXPECT_EQ(names(*second), (std::vector<std::string>{"e", "f"}));
  EXPECT_EQ((*second)[0].versions, (std::vector<int64_t>{1}));
  EXPECT_TRUE(registry_->list_models_page("f", 2)->empty());
  EXPECT_TRUE(registry_->list_models_page("", 0)->empty());
}

TEST_P(RegistryPagesTest, VersionPagesCarryTheAliases) {
  add_versions("m", 5);
  ASSERT_TRUE(registry_->set_alias("m", "prod", 4, actor_).is_ok());
  auto page = registry_->get_model_page("m", 2, 2);
  ASSERT_TRUE(page.is_ok());
  EXPECT_EQ(page->versions, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(page->aliases.at("prod"), 4);
  EXPECT_EQ(registry_->get_model_page("m", 4, 2)->versions, (std::vector<int64_t>{5}));
  EXPECT_EQ(registry_->get_model_page("nope", 0, 2).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace quiver::registry
