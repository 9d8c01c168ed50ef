# Writes OUT: `const char jk_NAME[] = { bytes of IN, 0 };`
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "/* generated from ${IN} */\nconst char jk_${NAME}[] = {${bytes}0};\n")
