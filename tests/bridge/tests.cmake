# The bridge's integration tests run the propmon-bridge binary.
if(TARGET bridge_test AND TARGET propmon-bridge)
  add_dependencies(bridge_test propmon-bridge)
endif()
