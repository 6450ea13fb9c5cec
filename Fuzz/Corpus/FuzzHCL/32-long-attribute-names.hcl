this_is_a_rather_long_attribute_name_with_underscores = "v"
with-dashes-in-the-name = "w"
MixedCase_Name9 = 9
