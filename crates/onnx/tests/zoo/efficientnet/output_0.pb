
BlogitsJPhJ¾Â‘Ù>›—¾¼	> 3~¾ÜsÅ½‘µ=Væ?P­ ¾¤©L>u÷½5CÚ>xKN¼wEÙ½<7q¾GÃ¦¾hBÌ=¦ÈÓ>ÔVÁ½áo‰=