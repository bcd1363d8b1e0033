package spam

// The corpus of the Bayes evaluation (corpus_test.go): sentences and
// subjects written for these tests, in English and Japanese, from which
// spam and ham messages are put together. Some sentences are shared by both
// classes (greetings, sign-offs, talk of orders and accounts), so that the
// classes are not told apart by a single word.

var corpusSubjects = map[string]map[bool][]string{
	"en": {
		true: {
			"You have been selected for a cash reward", "Final notice: verify your account now",
			"Lowest prices on prescription medication", "Claim your free gift card today",
			"Your mailbox is almost full - act now", "Work from home and earn $5000 a week",
			"Exclusive investment opportunity, limited seats", "Your package could not be delivered",
			"Congratulations, you won the lottery", "Unlock your crypto wallet bonus",
		},
		false: {
			"Minutes of Tuesday's planning meeting", "Re: invoice 2024-118 for the March deliveries",
			"Lunch on Friday?", "Draft of the quarterly report", "Change to the release schedule",
			"Photos from the weekend", "Your order has shipped", "Question about the build failure",
			"Agenda for the board meeting", "Holiday rota for December",
		},
	},
	"ja": {
		true: {
			"【重要】アカウントの確認をお願いします", "当選のお知らせ：現金十万円が当たりました",
			"今すぐ無料で登録！限定キャンペーン", "副業で月収百万円を実現する方法",
			"【緊急】お支払い情報の更新が必要です", "未公開株の特別なご案内",
			"出会いを探しているあなたへ", "ポイントの有効期限が本日で切れます",
			"激安ブランド品を今だけ特価で", "仮想通貨で簡単に資産を増やしませんか",
		},
		false: {
			"来週の打ち合わせの件", "議事録の送付について", "見積書をお送りします",
			"出張の日程について", "飲み会の出欠確認", "資料の修正版をお送りします",
			"年末年始の休業のお知らせ", "新しいメンバーの紹介", "請求書の件でご相談",
			"会議室の予約について",
		},
	},
}

var corpusSentences = map[string]map[bool][]string{
	"en": {
		true: {
			"Click the link below to claim your prize before it expires.",
			"Your account will be suspended unless you confirm your password within 24 hours.",
			"Buy cheap pills online without a prescription, discreet shipping worldwide.",
			"Earn thousands of dollars a week from the comfort of your home, no experience needed.",
			"This is a limited time offer, act now and receive a bonus of 500 dollars.",
			"We have detected unusual activity, log in immediately to secure your funds.",
			"Dear winner, your email address was selected in our international draw.",
			"Double your investment in thirty days with our guaranteed trading system.",
			"Unsubscribe is not necessary, this message is sent only once to lucky customers.",
			"Hot singles in your area are waiting to meet you tonight.",
			"Send us your bank details so that we can transfer the inheritance.",
			"Get a luxury replica watch at ninety percent off the retail price.",
			"Your parcel is on hold, pay the customs fee to release it.",
			"Lose ten kilos in two weeks with this miracle supplement.",
			"Verify your identity now to avoid permanent closure of your mailbox.",
			"Risk free, money back guarantee, order today while supplies last.",
		},
		false: {
			"Could you send me the updated figures before the meeting on Thursday?",
			"I have attached the minutes; please let me know if I missed anything.",
			"The build failed again on the integration server, I think the test data changed.",
			"Let's move the review to next week, several people are on holiday.",
			"Thanks for the quick reply, that answers my question.",
			"The invoice for the March deliveries is attached, payment is due in thirty days.",
			"We need to decide which release goes out first, the patch or the new feature.",
			"The children loved the trip to the lake, I will send more photos later.",
			"Please review the draft and add your comments in the document.",
			"The board asked for a summary of the budget by the end of the month.",
			"I booked the small meeting room for two hours on Wednesday afternoon.",
			"Your order 4471 has been packed and will be delivered by the carrier tomorrow.",
			"Can we talk about the staffing plan for the holiday season?",
			"The server migration is scheduled for Saturday night, expect a short outage.",
			"I reverted the change to the configuration, it broke the login page.",
			"See you at the station at nine, I will bring the tickets.",
		},
	},
	"ja": {
		true: {
			"下記のリンクをクリックして、賞品を受け取ってください。",
			"二十四時間以内にパスワードを確認しないと、アカウントが停止されます。",
			"今なら登録するだけで五千円分のポイントをプレゼントします。",
			"誰でも簡単に、毎月百万円以上の収入が得られます。",
			"この特別なご案内は選ばれたお客様だけにお送りしています。",
			"お支払い情報に問題が発生しました。至急ログインして更新してください。",
			"未公開株を特別価格でご提供できるのは今回限りです。",
			"出会いを求める女性があなたからの連絡を待っています。",
			"銀行口座の情報を返信していただければ、すぐに送金いたします。",
			"ブランド品の偽物ではありません、正規品を九割引きでお届けします。",
			"飲むだけで二週間で十キロ痩せるサプリメントです。",
			"仮想通貨への投資で資産が三倍になった方が続出しています。",
			"配送できなかったお荷物があります。手数料をお支払いください。",
			"本人確認のため、カード番号と暗証番号を入力してください。",
			"在庫がなくなり次第終了ですので、お早めにお申し込みください。",
			"完全無料、リスクなし、今すぐクリック！",
		},
		false: {
			"来週の打ち合わせですが、水曜日の午後はいかがでしょうか。",
			"議事録を添付しましたので、ご確認をお願いいたします。",
			"見積書をお送りします。ご不明な点があればお知らせください。",
			"出張の日程が決まりましたので、新幹線の切符を手配します。",
			"先日はお忙しいところありがとうございました。",
			"資料の修正版を共有フォルダに置きました。",
			"年末年始は十二月二十九日から一月三日まで休業いたします。",
			"テストサーバーでビルドが失敗しているようです、原因を調べています。",
			"新しく入ったメンバーを紹介します、来月から開発チームに加わります。",
			"請求書の金額が注文と合わないので、確認していただけますか。",
			"会議室を予約しましたので、十時に集合してください。",
			"子どもたちは湖への旅行をとても楽しんでいました。",
			"ご注文の商品は明日発送の予定です。",
			"設定の変更を元に戻しました、ログイン画面が表示されなくなっていました。",
			"忘年会の出欠を金曜日までにお知らせください。",
			"引き続きよろしくお願いいたします。",
		},
	},
}

// corpusShared are sentences both classes use.
var corpusShared = map[string][]string{
	"en": {
		"Best regards,", "Hello,", "Thank you for your order.", "Please find the details below.",
		"If you have any questions, reply to this email.", "Your account information is below.",
	},
	"ja": {
		"いつもお世話になっております。", "よろしくお願いいたします。", "ご注文ありがとうございます。",
		"詳細は以下のとおりです。", "ご質問があれば、このメールにご返信ください。", "アカウント情報は以下のとおりです。",
	},
}

var corpusFromDomains = map[bool][]string{
	true:  {"promo-deals.example", "secure-verify.example", "lucky-draw.example", "cheap-meds.example", "invest-now.example"},
	false: {"example.com", "example.org", "partner.example", "school.example", "shop.example"},
}
